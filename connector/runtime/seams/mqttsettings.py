"""The MQTT seam's settings: where and how to connect (URL, TLS files, credentials, client id),
checked from the CLI's options before any deploy, so bad usage fails at once and never becomes a
retry later. The connection itself is mqtt.py's."""
from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dadc.errors import UsageError

QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to connect; built (and checked) from the CLI's options before any deploy."""

    host: str
    port: int
    tls: bool
    client_id: str
    topic: str
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    alpn: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    queue_limit: int = QUEUE_LIMIT

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> "MqttSettings":
        """Raise UsageError for a URL, port or TLS option that cannot work."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UsageError(f"--mqtt {url!r}: {exc}") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
            raise UsageError(f"--mqtt {url!r}: use mqtt://host:port or mqtts://host:port")
        if parts.username or parts.password:
            raise UsageError("--mqtt: no credentials in the URL (they would show in the process table); "
                             "use --mqtt-username and --mqtt-password-file")
        tls = parts.scheme == "mqtts"
        if not tls and any(kw.get(k) for k in ("ca", "cert", "key", "alpn")):
            raise UsageError("--mqtt-ca, --mqtt-cert, --mqtt-key and --mqtt-alpn need an mqtts:// URL")
        if bool(kw.get("cert")) != bool(kw.get("key")):
            raise UsageError("--mqtt-cert and --mqtt-key go together")
        if kw.get("password") is not None and not kw.get("username"):
            raise UsageError("an MQTT password needs --mqtt-username")
        settings = cls(parts.hostname, port or (8883 if tls else 1883), tls, **kw)
        if tls:
            settings.ssl_context()  # a missing CA or a bad key is bad usage now, not a retry later
        return settings

    def ssl_context(self) -> ssl.SSLContext:
        def encrypted(*_: Any) -> str:
            raise UsageError(f"--mqtt-key {self.key}: the key is encrypted; give an unencrypted key "
                             "readable only by dadc's user")
        try:
            context = ssl.create_default_context(cafile=self.ca)
            if self.cert:
                context.load_cert_chain(self.cert, self.key, password=encrypted)
        except UsageError:
            raise
        except (OSError, ssl.SSLError) as exc:
            which = "--mqtt-ca" if self.ca and not _readable_pem(self.ca) else "--mqtt-cert/--mqtt-key"
            raise UsageError(f"{which}: {getattr(exc, 'strerror', None) or exc}") from None
        if self.alpn:
            context.set_alpn_protocols(list(self.alpn))
        return context


def _readable_pem(path: str) -> bool:
    try:
        ssl.create_default_context(cafile=path)
        return True
    except (OSError, ssl.SSLError):
        return False


def default_client_id(device: str | None, destination: str, role: str = "") -> str:
    """dadc-DEVICE-HASH: one per host and destination folder, so two dadc processes on a host
    never take over each other's session. Not cut to 23 characters (brokers accept more)."""
    import hashlib
    digest = hashlib.sha256(os.path.realpath(destination).encode()).hexdigest()[:8]
    name = device or socket.gethostname()
    return f"dadc-{name}-{digest}" + (f"-{role}" if role else "")
