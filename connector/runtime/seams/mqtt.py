"""The MQTT seam: status messages to a broker with paho-mqtt, QoS 1, in order, none lost while
dadc runs.

paho speaks the protocol; dadc adds what a device needs around it. The messages wait in a
bounded queue of dadc's own (the oldest is dropped when it is full, and counted) and are handed
to paho one at a time, each after the previous one's PUBACK, so the order holds across
reconnects (paho resends the one in flight, flagged DUP, on the next connection). One thread
owns the client and drives paho's external-loop API with a select that a publish() can wake,
so an idle connection costs nothing but keepalives. Reconnects back off with jitter, capped;
the backoff resets only after a PUBACK or a connection that stayed up, so a broker that
accepts and then drops the client (a policy denial, a duplicate client id) is not hammered.
"""
from __future__ import annotations

import logging
import random
import select
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any

from dadc.runtime.seams.mqttsettings import QUEUE_LIMIT, MqttSettings, default_client_id

__all__ = ["MqttSettings", "MqttSink", "default_client_id", "permanent_refusal", "QUEUE_LIMIT"]

log = logging.getLogger("dadc.mqtt")
KEEPALIVE = 30
BACKOFF_BASE, BACKOFF_CAP = 1.0, 60.0
STABLE_AFTER = 30.0  # a connection up this long proves the broker accepts us: backoff resets


class MqttSink:
    """publish() never blocks; close() waits, bounded, for the queue to be acknowledged."""

    def __init__(self, settings: MqttSettings) -> None:
        import paho.mqtt.client as mqtt

        self.settings = settings
        self._mqtt = mqtt
        self._queue: deque[bytes] = deque()  # waiting: not yet handed to paho
        self._sending: bytes | None = None  # handed to paho, until its PUBACK (taken under the lock)
        self.published = self.delivered = self.dropped = 0  # published == delivered + dropped + pending()
        self._cond = threading.Condition()
        self._closing = False
        self._give_up = False  # close() waited long enough: stop trying
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._inflight: int | None = None
        self._acked = False
        self._connected_at: float | None = None
        self._refused: str | None = None
        self._settled = False  # refused in a way no retry fixes (credentials, certificates): close() waits no longer
        self._delay = BACKOFF_BASE
        self.client = self._make_client()
        self._thread = threading.Thread(target=self._run, name="dadc-mqtt", daemon=True)
        self._thread.start()

    # --- the caller's side ---------------------------------------------------------------
    def publish(self, payload: dict[str, Any]) -> None:
        import json
        data = json.dumps(payload, separators=(",", ":")).encode()
        with self._cond:
            self.published += 1
            if len(self._queue) + (self._sending is not None) >= self.settings.queue_limit and self._queue:
                # the oldest *waiting* one goes; the one handed to paho is never taken back
                self._queue.popleft()
                self.dropped += 1
                log.warning("MQTT queue full (%d): dropped the oldest waiting status message (%d so far)",
                            self.settings.queue_limit, self.dropped)
            self._queue.append(data)
            self._cond.notify_all()
        self._wake()

    def pending(self) -> int:
        """Messages not yet acknowledged: waiting, and the one in flight."""
        with self._cond:
            return len(self._queue) + (self._sending is not None)

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to timeout for every message's PUBACK, then disconnect."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._wake()
        with self._cond:
            self._cond.wait_for(lambda: self._settled or (not self._queue and self._sending is None), timeout=timeout)
            left = len(self._queue) + (self._sending is not None)
            self._give_up = True
            self._cond.notify_all()
        self._wake()
        self._thread.join(timeout=5)
        if left:
            log.error("%d status message(s) not delivered to %s:%s (%s)", left, self.settings.host,
                      self.settings.port, self._refused or "broker unreachable")
        if self.dropped:
            log.error("%d status message(s) dropped while the broker was away (queue limit %d)",
                      self.dropped, self.settings.queue_limit)
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    # --- the thread that owns the client ---------------------------------------------------
    def _make_client(self) -> Any:
        mqtt = self._mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.settings.client_id,
                             clean_session=True, protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        client.max_inflight_messages_set(1)
        if self.settings.tls:
            client.tls_set_context(self.settings.ssl_context())
        if self.settings.username:
            client.username_pw_set(self.settings.username, self.settings.password)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refused = f"refused: {reason}"
            self._settle(True)
            log.error("MQTT broker %s:%s refused the connection: %s", self.settings.host, self.settings.port, reason)
        else:
            self._refused = None
            self._settle(False)
            self._connected_at = time.monotonic()
            log.info("MQTT connected to %s:%s as %s", self.settings.host, self.settings.port,
                     self.settings.client_id)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if mid == self._inflight:
            self._acked = True

    def _finished(self) -> bool:
        with self._cond:
            return self._give_up or (self._closing and not self._queue and self._sending is None)

    def _run(self) -> None:
        self.client.connect_async(self.settings.host, self.settings.port, KEEPALIVE)
        while not self._finished():
            try:
                self.client.reconnect()
            except (OSError, ssl.SSLError) as exc:  # refused, unreachable, TLS handshake failed
                self._refused = f"{type(exc).__name__}: {exc}"
                if permanent_refusal(exc):  # a transient failure after it changes nothing: only a connect does
                    self._settle(True)
                log.warning("MQTT %s:%s unreachable: %s", self.settings.host, self.settings.port, exc)
                self._backoff()
                continue
            self._serve()
            if not self._finished():
                self._backoff()
        self._shutdown()

    def _serve(self) -> None:
        """Until the connection is lost (or closing, with nothing left to send). The message in
        flight, if any, stays paho's across reconnects: paho resends it (DUP) after the CONNACK."""
        mqtt = self._mqtt
        self._connected_at = None
        while True:
            sock = self.client.socket()
            if sock is None:
                return
            pending = sock.pending() if hasattr(sock, "pending") else 0
            want = [sock] if self.client.want_write() else []
            try:
                readable, writable, _ = select.select([sock, self._wake_r], want, [], 0 if pending else 1.0)
            except (OSError, ValueError):
                return
            if self._wake_r in readable:
                self._drain_wake()
            rc = mqtt.MQTT_ERR_SUCCESS
            if sock in readable or pending:
                rc = self.client.loop_read()
            if rc == mqtt.MQTT_ERR_SUCCESS and (sock in writable or self.client.want_write()):
                rc = self.client.loop_write()
            if rc == mqtt.MQTT_ERR_SUCCESS:
                rc = self.client.loop_misc()
            if self._acked:  # first: an ack read just before the connection dropped still counts
                with self._cond:
                    self._sending = None
                    self.delivered += 1
                    self._cond.notify_all()
                self._inflight, self._acked, self._delay = None, False, BACKOFF_BASE
            if self._finished():
                return
            if rc != mqtt.MQTT_ERR_SUCCESS:
                if self._connected_at is not None:
                    log.warning("MQTT connection to %s:%s lost (%s); %d message(s) waiting", self.settings.host,
                                self.settings.port, mqtt.error_string(rc), self.pending())
                return
            if self._connected_at is None:
                continue
            if time.monotonic() - self._connected_at > STABLE_AFTER:
                self._delay = BACKOFF_BASE
            if self._inflight is None:
                with self._cond:
                    if self._sending is None and self._queue:
                        self._sending = self._queue.popleft()
                    head = self._sending
                if head is not None:
                    self._inflight = self.client.publish(self.settings.topic, head, qos=1).mid

    def _settle(self, permanent: bool) -> None:
        """A refusal no retry fixes (the broker said no, or a certificate does not verify): retries
        go on (the operator may fix it), but a closing dadc stops waiting for delivery at once."""
        with self._cond:
            self._settled = permanent
            self._cond.notify_all()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _backoff(self) -> None:
        """Wait a jittered, capped, growing delay; a close() with an empty queue cuts it short."""
        delay = random.uniform(self._delay / 2, self._delay)
        self._delay = min(self._delay * 2, BACKOFF_CAP)
        with self._cond:
            self._cond.wait_for(lambda: self._give_up, timeout=delay)

    def _shutdown(self) -> None:
        try:
            self.client.disconnect()
            self.client.loop_write()
        except Exception:  # the socket may already be gone
            pass


def permanent_refusal(exc: BaseException) -> bool:
    """A certificate that does not verify, or the peer's TLS alert (unknown CA, bad certificate);
    not a refused or unreachable connection, nor a handshake cut short (a broker restarting)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    return isinstance(exc, ssl.SSLError) and "ALERT" in str(exc).upper()
