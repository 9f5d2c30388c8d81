"""A TCP proxy for fault tests: forwards both directions, optionally holding every chunk for ``delay_s``.

A slow-but-alive Redis is the hard case for "never published after the user was told it failed": the
command does arrive, only late. Loopback only; bounded by the test that owns it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class DelayProxy:
    upstream: tuple[str, int]
    delay_s: float = 0.0
    port: int = 0
    refuse: bool = False  # close new connections at once (a dead broker that still has a port)
    _listener: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _sockets: list[socket.socket] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _last_forward: float = field(default_factory=time.monotonic)

    def idle_s(self) -> float:
        """Seconds since the proxy last forwarded anything (a drained proxy holds nothing back)."""
        return time.monotonic() - self._last_forward

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def stop(self) -> None:
        self._stopping.set()
        for sock in [*self._sockets, *([self._listener] if self._listener else [])]:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.2)
        while not self._stopping.is_set():
            try:
                chunk = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            self._last_forward = time.monotonic()
            if self.delay_s:
                time.sleep(self.delay_s)
            try:
                sink.sendall(chunk)
            except OSError:
                break
            self._last_forward = time.monotonic()
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def delay_proxy(upstream_url: str, delay_s: float = 0.0) -> Iterator[DelayProxy]:
    """A proxy in front of the Redis at ``upstream_url`` (redis://host:port/db)."""
    host_port = upstream_url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    proxy = DelayProxy((host or "127.0.0.1", int(port)), delay_s)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
