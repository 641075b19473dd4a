"""The device's end of the AWS IoT Jobs MQTT API (paho-mqtt speaks MQTT; this is the jobs
topics' request/response on top): $aws/things/THING/jobs/{notify-next, start-next, JOBID/update,
JOBID/get}, each request with a clientToken, its answer on .../accepted or .../rejected.

A request waits for its answer, bounded; one not answered when the connection drops is sent again
on the next connection (same clientToken): a broker restart loses no result. The caller sees
accepted (a dict) or Rejected (code, message)."""
from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any, Callable

from dadc.errors import DadcError
from dadc.runtime.seams.mqttsettings import MqttSettings

log = logging.getLogger("dadc.jobs")
RESEND = 5.0  # a request not answered within this is sent again (same clientToken): a lost answer, a
# broker restarted between the connection and the service's subscription; answering is idempotent


class Rejected(DadcError):
    def __init__(self, code: str, message: str, state: dict[str, Any] | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.state = code, state or {}


class JobsClient:
    def __init__(self, settings: MqttSettings, thing: str, on_next: Callable[[dict[str, Any] | None], None],
                 on_connected: Callable[[], None] = lambda: None) -> None:
        import paho.mqtt.client as mqtt
        self.thing, self.on_next, self.on_connected = thing, on_next, on_connected
        self.base = f"$aws/things/{thing}/jobs"
        self._pending: dict[str, tuple[str, bytes]] = {}  # clientToken -> (topic, payload), until answered
        self._answers: dict[str, tuple[bool, dict[str, Any]]] = {}
        self._cond = threading.Condition()
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id or thing,
                                  clean_session=True, protocol=mqtt.MQTTv311)
        if settings.tls:
            self.client.tls_set_context(settings.ssl_context())
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect_async(settings.host, settings.port, keepalive=60)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # --- paho's callbacks (its thread) ---------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        if reason.is_failure:
            log.warning("jobs: the broker refused the connection: %s", reason)
            return
        topics = [f"{self.base}/notify-next", f"{self.base}/start-next/accepted", f"{self.base}/start-next/rejected",
                  f"{self.base}/+/update/accepted", f"{self.base}/+/update/rejected",
                  f"{self.base}/+/get/accepted", f"{self.base}/+/get/rejected"]
        client.subscribe([(t, 1) for t in topics])

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any = None) -> None:
        with self._cond:
            again = list(self._pending.values())
        for topic, payload in again:  # answers lost with the last connection: asked again, same token
            client.publish(topic, payload, qos=1)
        self.connected.set()
        # notify-next is sent once, when the next execution changes: one sent while this device was
        # away is lost with its clean session, so every (re)connection asks start-next itself
        self.on_connected()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            log.warning("jobs: %s: not JSON", message.topic)
            return
        if message.topic.endswith("/notify-next"):
            self.on_next(body.get("execution"))
            return
        token = body.get("clientToken")
        with self._cond:
            if token in self._pending:
                del self._pending[token]
                self._answers[token] = (message.topic.endswith("/accepted"), body)
                self._cond.notify_all()

    # --- requests (the caller's thread) ----------------------------------------------------------
    def request(self, what: str, payload: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        """Publish to base/what and wait for its answer (re-sent on every new connection)."""
        token = payload.setdefault("clientToken", uuid.uuid4().hex)
        topic, data = f"{self.base}/{what}", json.dumps(payload, separators=(",", ":")).encode()
        with self._cond:
            self._pending[token] = (topic, data)
        if self.connected.is_set():
            self.client.publish(topic, data, qos=1)
        import time
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._cond.wait_for(lambda: token in self._answers, timeout=RESEND):
                if time.monotonic() >= deadline:
                    self._pending.pop(token, None)
                    raise DadcError(f"jobs: no answer to {what} within {timeout:g} s")
                if self.connected.is_set():
                    self.client.publish(topic, data, qos=1)
            ok, body = self._answers.pop(token)
        if not ok:
            raise Rejected(str(body.get("code")), str(body.get("message")), body.get("executionState"))
        return body

    def start_next(self, details: dict[str, str]) -> dict[str, Any] | None:
        return self.request("start-next", {"statusDetails": details}).get("execution")

    def get(self, job: str) -> dict[str, Any]:
        return self.request(f"{job}/get", {"includeJobDocument": False})["execution"]

    def update(self, job: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.request(f"{job}/update", payload)
