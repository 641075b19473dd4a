"""MQTT configuration is checked before anything runs; the queue is bounded; ids are unique."""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dadc.errors import UsageError
from dadc.runtime.seams import mqtt
from dadc.runtime.seams.mqtt import MqttSettings, default_client_id

TOPIC = "dockerapplicationdeploymentconnector/message/status"


def settings(url: str, **kw: object) -> MqttSettings:
    return MqttSettings.from_url(url, client_id="dadc-test", topic=TOPIC, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "why"), [
    ("http://broker:1883", "use mqtt://"), ("mqtt://", "use mqtt://"), ("mqtt://broker:99999", "out of range"),
    ("mqtt://broker:port", "Port could not be cast"), ("mqtt://user:pw@broker", "no credentials in the URL"),
    ("mqtt://broker/some/path", "use mqtt://"),
])
def test_bad_urls_are_usage_errors(url: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        settings(url)


def test_default_ports_and_tls() -> None:
    assert (settings("mqtt://b").port, settings("mqtt://b").tls) == (1883, False)
    s = settings("mqtts://127.0.0.1")
    assert (s.port, s.tls) == (8883, True)
    assert settings("mqtt://b:1999").port == 1999


def test_tls_options_need_mqtts_and_cert_needs_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="need an mqtts:// URL"):
        settings("mqtt://b", ca=str(tmp_path / "ca.pem"))
    with pytest.raises(UsageError, match="go together"):
        settings("mqtts://b", cert="c.pem")
    with pytest.raises(UsageError, match="needs --mqtt-username"):
        settings("mqtt://b", password="x")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=t",
             "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"))
    _openssl("rsa", "-in", str(d / "key.pem"), "-aes256", "-passout", "pass:secret-pass", "-out", str(d / "enc.pem"))
    (d / "garbage.pem").write_text("not a certificate\n")
    return d


def test_missing_or_garbage_ca_is_a_usage_error(pki: Path) -> None:
    with pytest.raises(UsageError, match="--mqtt-ca"):
        settings("mqtts://b", ca=str(pki / "nope.pem"))
    with pytest.raises(UsageError, match="--mqtt-ca"):
        settings("mqtts://b", ca=str(pki / "garbage.pem"))


def test_an_encrypted_key_is_a_usage_error_and_never_prompts(pki: Path) -> None:
    with pytest.raises(UsageError, match="encrypted"):
        settings("mqtts://b", ca=str(pki / "cert.pem"), cert=str(pki / "cert.pem"), key=str(pki / "enc.pem"))


def test_a_key_that_does_not_fit_the_certificate_is_a_usage_error(pki: Path, tmp_path: Path) -> None:
    _openssl("genrsa", "-out", str(tmp_path / "other.pem"), "2048")
    with pytest.raises(UsageError, match="--mqtt-cert/--mqtt-key"):
        settings("mqtts://b", ca=str(pki / "cert.pem"), cert=str(pki / "cert.pem"), key=str(tmp_path / "other.pem"))


def test_alpn_is_set_on_the_context(pki: Path) -> None:
    s = settings("mqtts://b:443", ca=str(pki / "cert.pem"), alpn=("x-amzn-mqtt-ca",))
    assert s.alpn == ("x-amzn-mqtt-ca",) and s.ssl_context() is not None


def test_the_password_never_shows_in_repr() -> None:
    s = settings("mqtt://b", username="u", password="hunter2-secret")
    assert "hunter2-secret" not in repr(s)


def test_client_ids_differ_per_destination_and_are_not_cut() -> None:
    long_host = "a-device-with-a-very-long-host-name.factory.example.com"
    a, b = default_client_id(long_host, "/srv/app-a"), default_client_id(long_host, "/srv/app-b")
    assert a != b and len(a) > 23 and a.startswith(f"dadc-{long_host}-")
    assert default_client_id(long_host, "/srv/app-a") == a  # stable across restarts
    assert default_client_id(long_host, "/srv/app-a", "deploy") != a


def test_the_queue_is_bounded_and_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    sink = mqtt.MqttSink(MqttSettings("127.0.0.1", _free_port(), False, "dadc-q", TOPIC, queue_limit=5))
    try:
        for i in range(8):
            sink.publish({"n": i})
        assert sink.pending() == 5
        assert [int(m.decode().split(":")[1].rstrip("}")) for m in sink._queue] == [3, 4, 5, 6, 7]
    finally:
        sink.close(timeout=0.2)
    assert "5 status message(s) not delivered" in caplog.text
    assert "3 status message(s) dropped" in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_backoff_grows_with_jitter_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = mqtt.MqttSink.__new__(mqtt.MqttSink)
    sink._delay, sink._give_up, sink._cond = mqtt.BACKOFF_BASE, True, threading.Condition()  # waits return at once
    bounds: list[tuple[float, float]] = []
    monkeypatch.setattr(mqtt.random, "uniform", lambda a, b: bounds.append((a, b)) or b)  # type: ignore[func-returns-value]
    for _ in range(10):
        sink._backoff()
    assert bounds[0] == (0.5, 1.0) and bounds[1] == (1.0, 2.0)  # jittered within [d/2, d], d doubling
    assert max(b for _, b in bounds) == mqtt.BACKOFF_CAP


def test_a_broker_that_accepts_then_drops_is_not_hammered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CONNACK alone does not reset the backoff (a policy denial, a duplicate client id)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(1024)  # CONNECT
            conn.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
            accepted.append(1)
            conn.close()  # then dropped
    threading.Thread(target=serve, daemon=True).start()
    delays: list[float] = []
    monkeypatch.setattr(mqtt, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(mqtt, "BACKOFF_CAP", 0.16)
    monkeypatch.setattr(mqtt.random, "uniform", lambda a, b: delays.append(b) or b)  # type: ignore[func-returns-value]
    sink = mqtt.MqttSink(MqttSettings("127.0.0.1", server.getsockname()[1], False, "dadc-drop", TOPIC))
    sink.publish({"n": 1})
    deadline = time.monotonic() + 30
    while len(delays) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    sink.close(timeout=0.1)
    server.close()
    assert len(accepted) >= 5
    assert delays[:6] == [0.01, 0.02, 0.04, 0.08, 0.16, 0.16]


def test_which_refusals_no_retry_fixes() -> None:
    import ssl
    assert mqtt.permanent_refusal(ssl.SSLCertVerificationError(1, "certificate verify failed: Hostname mismatch"))
    assert mqtt.permanent_refusal(ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca"))
    assert not mqtt.permanent_refusal(ssl.SSLError(1, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred"))
    assert not mqtt.permanent_refusal(ConnectionRefusedError(111, "Connection refused"))


def test_close_stops_waiting_once_the_broker_refused_for_good() -> None:
    """A refused certificate or credentials: `dadc deploy` exits at once, saying what was not
    delivered, instead of waiting out the delivery limit for an answer that will not change."""
    import time
    sink = mqtt.MqttSink(MqttSettings("127.0.0.1", _free_port(), False, "dadc-settled", TOPIC))
    sink.publish({"status": "success"})
    sink._settle(True)  # what a CONNACK refusal or a certificate that does not verify does
    started = time.monotonic()
    sink.close(timeout=120)
    assert time.monotonic() - started < 60 and sink.delivered == 0
