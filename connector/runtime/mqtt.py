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
        self._pending: list[Any] = []
        self._lock = threading.Lock()
        self.client.connect_async(parsed.hostname, port, keepalive=30)
        self.client.loop_start()

    def publish(self, payload: dict[str, Any]) -> None:
        info = self.client.publish(TOPIC, json.dumps(payload, separators=(",", ":")), qos=1)
        with self._lock:
            self._pending = [i for i in self._pending if not i.is_published()] + [info]

    def close(self, timeout: float = 5.0) -> None:
        """Give queued messages up to timeout seconds to reach the broker, then disconnect."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(not i.is_published() for i in self._pending):
            time.sleep(0.05)
        left = sum(not i.is_published() for i in self._pending)
        if left:
            log.warning("%d status message(s) not delivered: the broker is unreachable", left)
        self.client.disconnect()
        self.client.loop_stop()
