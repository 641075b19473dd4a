"""MQTT status sink: QoS 1, never blocks a deployment; messages wait for the broker in order."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from connector.errors import InvalidParameter
from connector.runtime.status import TOPIC

log = logging.getLogger("dadc.mqtt")


class MqttSink:
    def __init__(self, url: str, ca: str | None = None, cert: str | None = None, key: str | None = None,
                 client_id: str | None = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise InvalidParameter(f"--mqtt {url!r}: use mqtt://host:port or mqtts://host:port")
        port = parsed.port or (8883 if parsed.scheme == "mqtts" else 1883)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"dadc-{os.getpid()}", clean_session=False)
        self.client.max_queued_messages_set(0)  # unbounded: nothing is dropped while the broker is away
        self.client.max_inflight_messages_set(1)  # one at a time keeps delivery in order
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if parsed.scheme == "mqtts":
            self.client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
        self.client.on_connect = lambda c, u, f, rc, p=None: log.info("MQTT connected to %s:%s (%s)", parsed.hostname, port, rc)
        self.client.on_disconnect = lambda c, u, f, rc, p=None: log.warning("MQTT disconnected (%s); will retry", rc)
        self._unacked: set[int] = set()
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.client.connect_async(parsed.hostname, port, keepalive=30)
        self.client.loop_start()

    def _on_publish(self, client: Any, userdata: Any, mid: int, *rest: Any) -> None:
        with self._lock:
            self._unacked.discard(mid)

    def publish(self, payload: dict[str, Any]) -> None:
        # While disconnected paho keeps QoS 1 messages and sends them, in order, on reconnect.
        with self._lock:
            info = self.client.publish(TOPIC, json.dumps(payload, separators=(",", ":")), qos=1)
            self._unacked.add(info.mid)

    @property
    def unacknowledged(self) -> int:
        with self._lock:
            return len(self._unacked)

    def close(self, timeout: float = 5.0) -> None:
        """Give queued messages up to timeout seconds to reach the broker, then disconnect."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.unacknowledged:
            time.sleep(0.05)
        left = self.unacknowledged
        if left:
            log.warning("%d status message(s) not delivered: the broker is unreachable", left)
        self.client.disconnect()
        self.client.loop_stop()
