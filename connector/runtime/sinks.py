"""Where status messages go for a runtime command: stdout, or the MQTT broker (paho-mqtt in
seams/mqtt.py), with the settings checked before anything runs (a bad URL, CA or key is bad usage)."""
from __future__ import annotations

import os
import socket
from dataclasses import replace
from typing import Any

from dadc.errors import UsageError
from dadc.options import RuntimeOptions
from dadc.runtime.status import LazySink, Sink, StdoutSink, topic


def device_name(opts: RuntimeOptions) -> str:
    return opts.device_id or socket.gethostname()


def mqtt_settings(opts: RuntimeOptions) -> Any:
    """The MQTT settings, checked now: a bad URL, CA or key is bad usage (exit 2) before any deploy."""
    from dadc.runtime.seams.mqttsettings import MqttSettings
    password = None
    if opts.mqtt_password_file:
        try:
            with open(opts.mqtt_password_file, encoding="utf-8") as handle:
                password = handle.read().rstrip("\n")
        except OSError as exc:
            raise UsageError(f"--mqtt-password-file {opts.mqtt_password_file}: {exc.strerror}") from None
    elif os.environ.get("DADC_MQTT_PASSWORD") is not None and opts.mqtt_username:
        password = os.environ["DADC_MQTT_PASSWORD"]
    alpn = tuple(a for a in (opts.mqtt_alpn or "").split(",") if a)
    prefix = (opts.status_topic_prefix or "").replace("{device}", device_name(opts))
    if any(c in prefix for c in "+#\0"):
        raise UsageError(f"--status-topic-prefix {opts.status_topic_prefix!r}: no MQTT wildcards (+, #) in a topic")
    return MqttSettings.from_url(opts.mqtt, client_id=opts.mqtt_client_id or "", topic=topic(prefix), ca=opts.mqtt_ca,
                                 cert=opts.mqtt_cert, key=opts.mqtt_key, alpn=alpn, username=opts.mqtt_username,
                                 password=password)


def make(opts: RuntimeOptions, settings: Any, role: str) -> Sink:
    """stdout, or MQTT. Without --mqtt-client-id the client id comes from the device and the
    destination folder, so the sink is made once the definition says where that is."""
    if settings is None:
        return StdoutSink()
    from dadc.runtime.seams.mqtt import MqttSink, default_client_id
    if settings.client_id:
        return MqttSink(settings)

    def create(destination: str) -> Sink:
        return MqttSink(replace(settings, client_id=default_client_id(device_name(opts), destination, role)))
    return LazySink(create, opts.destination or opts.definition or opts.parameters or ".")
