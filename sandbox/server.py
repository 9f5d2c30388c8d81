"""Run a sandbox ASGI app: in the foreground from a CLI, or in a background thread for tests."""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A sandbox server running in a background thread."""

    host: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)


def start_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 10.0
) -> RunningServer:
    """Serve ``app`` from a daemon thread and return once it accepts connections."""
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    # uvicorn leaves signal handling alone outside the main thread, which is what a test wants.
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"sandbox server on {host}:{port} exited during start-up")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"sandbox server on {host}:{port} did not start within {start_timeout_s}s")
        time.sleep(0.01)
    return RunningServer(host=host, port=port, server=server, thread=thread)


@contextlib.contextmanager
def running(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningServer]:
    """Context manager form of :func:`start_in_thread`."""
    srv = start_in_thread(app, host=host, port=port)
    try:
        yield srv
    finally:
        srv.stop()


def cli_main(
    name: str,
    default_port: int,
    build_app: Callable[[argparse.Namespace], ASGIApp],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Shared ``python -m sandbox.<name>`` entry point: parse flags, build the app, serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog=f"python -m sandbox.{name}", description=f"Local {name} sandbox server.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=default_port, help="TCP port (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1..65535, got {args.port}")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = build_app(args)
    print(f"sandbox.{name} listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0
