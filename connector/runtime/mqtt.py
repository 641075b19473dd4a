"""MQTT status sink: a minimal MQTT 3.1.1 publisher (QoS 1), written for the long-lived process.

Why not paho: importing it costs about 9 MB (it pulls in urllib.request, http.client, certifi,
uuid and ssl even for plain MQTT); this needs `ssl` only for mqtts://. What it does:
messages go out one at a time, in order, each until its PUBACK; while the broker is away they
wait in memory and the connection is retried with capped backoff; publish() never blocks.
"""
from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlparse

from connector.errors import InvalidParameter
from connector.runtime.status import TOPIC

log = logging.getLogger("dadc.mqtt")
CONNECT, CONNACK, PUBLISH, PUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 12, 13, 14
KEEPALIVE = 30
ACK_TIMEOUT = 10.0


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    length, size = bytearray(), len(body)
    while True:  # the remaining length as a variable-length integer
        byte, size = size % 128, size // 128
        length.append(byte | (0x80 if size else 0))
        if not size:
            return bytes([kind << 4 | flags]) + bytes(length) + body


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            data += chunk
        return data

    def read(self) -> tuple[int, bytes]:
        first = self._exactly(1)[0]
        size, shift = 0, 0
        while True:
            byte = self._exactly(1)[0]
            size += (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return first >> 4, self._exactly(size)

    def expect(self, kind: int, packet_id: int | None = None) -> bytes:
        while True:
            got, body = self.read()
            if got == kind and (packet_id is None or struct.unpack("!H", body[:2])[0] == packet_id):
                return body


class MqttSink:
    def __init__(self, url: str, ca: str | None = None, cert: str | None = None, key: str | None = None,
                 client_id: str | None = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise InvalidParameter(f"--mqtt {url!r}: use mqtt://host:port or mqtts://host:port")
        self.host, self.tls = parsed.hostname, parsed.scheme == "mqtts"
        self.port = parsed.port or (8883 if self.tls else 1883)
        self.ca, self.cert, self.key = ca, cert, key
        self.client_id = client_id or f"dadc-{socket.gethostname()}-{os.getpid()}"[:23]
        self._queue: deque[bytes] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._next_id = 0
        self._thread = threading.Thread(target=self._loop, name="mqtt", daemon=True)
        self._thread.start()

    def publish(self, payload: dict[str, Any]) -> None:
        import json
        with self._wake:
            self._queue.append(json.dumps(payload, separators=(",", ":")).encode())
            self._wake.notify()

    @property
    def unacknowledged(self) -> int:
        with self._wake:
            return len(self._queue)

    def close(self, timeout: float = 5.0) -> None:
        """Give queued messages up to timeout seconds to reach the broker, then disconnect."""
        deadline = time.monotonic() + timeout
        while self.unacknowledged and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.unacknowledged:
            log.warning("%d status message(s) not delivered: the broker is unreachable", self.unacknowledged)
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout=ACK_TIMEOUT)

    def _connect(self) -> _Connection:
        sock = socket.create_connection((self.host, self.port), timeout=ACK_TIMEOUT)
        if self.tls:
            import ssl  # only for mqtts: it is the largest import here
            context = ssl.create_default_context(cafile=self.ca)
            if self.cert:
                context.load_cert_chain(self.cert, self.key)
            sock = context.wrap_socket(sock, server_hostname=self.host)
        conn = _Connection(sock)
        # clean session 0: the broker keeps our session; a message resent after a reconnect is flagged DUP
        body = _string("MQTT") + bytes([4, 0x00]) + struct.pack("!H", KEEPALIVE) + _string(self.client_id)
        sock.sendall(_packet(CONNECT, 0, body))
        ack = conn.expect(CONNACK)
        if ack[1] != 0:
            sock.close()
            raise ConnectionError(f"the broker refused the connection (CONNACK code {ack[1]})")
        log.info("MQTT connected to %s:%s", self.host, self.port)
        return conn

    def _loop(self) -> None:
        delay, resend = 1.0, False
        while not self._closing:
            try:
                conn = self._connect()
            except (OSError, ConnectionError) as exc:
                log.warning("MQTT %s:%s unreachable (%s); retry in %.0fs", self.host, self.port, exc, delay)
                with self._wake:
                    self._wake.wait_for(lambda: self._closing, timeout=delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            try:
                resend = self._session(conn, resend)
            except (OSError, ConnectionError, struct.error, IndexError) as exc:
                log.warning("MQTT connection lost (%s); reconnecting", exc)
                resend = True
            finally:
                conn.sock.close()

    def _session(self, conn: _Connection, resend: bool) -> bool:
        """Send queued messages in order, each until acknowledged; ping when idle."""
        last = time.monotonic()
        conn.sock.settimeout(ACK_TIMEOUT)
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._queue or self._closing, timeout=KEEPALIVE / 2)
                message = self._queue[0] if self._queue else None
                if self._closing and message is None:
                    conn.sock.sendall(_packet(DISCONNECT, 0, b""))
                    return False
            if message is None:
                if time.monotonic() - last >= KEEPALIVE / 2:
                    conn.sock.sendall(_packet(PINGREQ, 0, b""))
                    conn.expect(PINGRESP)
                    last = time.monotonic()
                continue
            if not resend:
                self._next_id = self._next_id % 65535 + 1
            flags = 0x02 | (0x08 if resend else 0)  # QoS 1, DUP on a resend
            conn.sock.sendall(_packet(PUBLISH, flags, _string(TOPIC) + struct.pack("!H", self._next_id) + message))
            conn.expect(PUBACK, self._next_id)
            resend, last = False, time.monotonic()
            with self._wake:
                self._queue.popleft()
                self._wake.notify_all()
