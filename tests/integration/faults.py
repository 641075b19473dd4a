"""Fault helpers: a Docker socket that appears later, a broker of one's own, a tiny file system."""
from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any


def pump(source: socket.socket, sink: socket.socket, rate: int | None = None) -> None:
    """Copy one direction of a connection until it closes; at `rate` bytes a second if given."""
    chunk = max(1, rate // 20) if rate else 65536
    try:
        while data := source.recv(chunk):
            sink.sendall(data)
            if rate:
                time.sleep(len(data) / rate)  # the link's pace, not a test signal
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class LateDockerSocket:
    """A unix socket path that forwards to the real daemon once started: a device whose
    Docker daemon comes up after dadc (DOCKER_HOST=unix://PATH)."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock") -> None:
        self.path, self.target = path, target
        self.server: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.close()
        if self.path.exists():
            self.path.unlink()


class Broker:
    """A mosquitto of the test's own on a free port, to stop and start at will. With a folder,
    it keeps sessions across restarts (persistence) and logs every connection there."""

    def __init__(self, port: int, folder: Path | None = None) -> None:
        self.port, self.folder, self.proc = port, folder, None
        self.log = folder / "mosquitto.log" if folder else None

    def start(self) -> None:
        argv = ["mosquitto", "-p", str(self.port)]
        if self.folder:
            conf = self.folder / "mosquitto.conf"
            # as root: it writes its log and sessions in the test's own (private) folder
            conf.write_text(f"user root\nlistener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                            f"persistence_location {self.folder}/\nlog_dest file {self.log}\nlog_type all\n"
                            "connection_messages true\n")
            argv = ["mosquitto", "-c", str(conf)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()  # mosquitto saves its sessions on SIGTERM
            self.proc.wait(timeout=10)
            self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


class Proxy:
    """A TCP proxy to a local port; each connection's two directions go through up() and down()."""

    def __init__(self, target: int) -> None:
        self.target, self.connections = target, 0
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.connections += 1
            threading.Thread(target=self.up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self.down, args=(upstream, client), daemon=True).start()

    def up(self, client: socket.socket, upstream: socket.socket) -> None:
        pump(client, upstream)

    def down(self, upstream: socket.socket, client: socket.socket) -> None:
        pump(upstream, client)

    def close(self) -> None:
        self.server.close()


class Throttle(Proxy):
    """Client-to-server bytes at a limited rate: a slow uplink, so a large message takes longer than
    any short timeout to send. rate_down: the same for server-to-client bytes (a registry that
    serves at a crawl)."""

    def __init__(self, target: int, bytes_per_second: int | None, down: int | None = None) -> None:
        self.rate, self.rate_down = bytes_per_second, down
        super().__init__(target)

    def up(self, client: socket.socket, upstream: socket.socket) -> None:
        pump(client, upstream, self.rate)

    def down(self, upstream: socket.socket, client: socket.socket) -> None:
        pump(upstream, client, self.rate_down)


class Cutter(Proxy):
    """Every connection cut once it has carried `after` client-to-server bytes (a broker that keeps
    dropping its clients mid-stream)."""

    def __init__(self, target: int, after: int) -> None:
        self.after, self.cuts = after, 0
        super().__init__(target)

    def up(self, client: socket.socket, upstream: socket.socket) -> None:
        self._up(client, upstream)

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        carried = 0
        try:
            while data := client.recv(4096):
                upstream.sendall(data)
                carried += len(data)
                if carried >= self.after:
                    self.cuts += 1
                    break
        except OSError:
            pass
        for s in (client, upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.server.close()


class CutBody:
    """An HTTP proxy to the S3 endpoint that, for GETs of one key, passes S3's headers (its
    Content-Length included) and only the body's first lines, then closes: a connection cut at a
    line boundary, where the bytes received still parse."""

    def __init__(self, endpoint: str, key: str, keep_lines: int) -> None:
        import http.client
        import http.server
        from urllib.parse import urlsplit
        target = urlsplit(endpoint)
        outer = self
        self.cut = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                response = conn.getresponse()
                data = response.read()
                cut = self.command == "GET" and self.path.split("?")[0].endswith("/" + key) and response.status == 200
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                if cut:
                    outer.cut += 1
                    data = b"".join(data.splitlines(keepends=True)[:keep_lines])
                self.wfile.write(data)
                self.close_connection = True

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PersistentSubscriber:
    """A QoS 1 subscriber whose session outlives broker restarts (clean session off): nothing
    published while it is away is lost to it, so any loss the test sees is the publisher's."""

    def __init__(self, port: int, topic: str) -> None:
        import uuid

        import paho.mqtt.client as mqtt
        self.messages: "queue.Queue[Any]" = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}",
                                  clean_session=False)
        self.client.reconnect_delay_set(0.1, 1)
        subscribed: "queue.Queue[bool]" = queue.Queue()
        self.client.on_message = lambda c, u, m: self.messages.put(json.loads(m.payload))
        self.client.on_subscribe = lambda *a: subscribed.put(True)
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        subscribed.get(timeout=10)

    def get(self, timeout: float = 60) -> Any:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def read_all(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
