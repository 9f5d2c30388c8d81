"""A real Redis Sentinel set for tests: a master, a replica and one Sentinel (quorum 1), all `redis-server`."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.waiting import wait_until

MASTER_NAME = "testmaster"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SentinelSet:
    master_port: int
    replica_port: int
    sentinel_port: int

    @property
    def url(self) -> str:
        return f"sentinel://127.0.0.1:{self.sentinel_port}/0"

    def sentinel(self) -> redis.Redis:
        return redis.Redis(port=self.sentinel_port, decode_responses=True, socket_timeout=5)

    def master_port_now(self) -> int:
        # redis-py's sentinel_* helpers trip over their own options in 6.x: the raw commands.
        _host, port = self.sentinel().execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return int(port)

    def failover(self) -> int:
        """Promote the replica (SENTINEL FAILOVER); return the new master's port once everyone agrees."""
        old = self.master_port_now()
        self.sentinel().execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        wait_until(lambda: self.master_port_now() != old, timeout_s=30, interval_s=0.1, what="the failover")
        new = self.master_port_now()
        wait_until(
            lambda: redis.Redis(port=new).role()[0] == b"master", timeout_s=30, interval_s=0.1, what="a new master"
        )
        # Done when the old master is a replica of the new one (Sentinel then drops its clients, so they
        # reconnect through the Sentinels); writes that reach it before that are lost, as in any failover.
        wait_until(
            lambda: _quiet(lambda: redis.Redis(port=old).role()[0] == b"slave"),
            timeout_s=30,
            interval_s=0.1,
            what="the old master to become a replica",
        )
        return new


@contextmanager
def running_sentinel_set(tmp_path: Path) -> Iterator[SentinelSet]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (scripts/ensure_services.sh installs it)"
    ports = SentinelSet(_free_port(), _free_port(), _free_port())
    base = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {ports.sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {ports.master_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER_NAME} 2000\n"
        f"sentinel failover-timeout {MASTER_NAME} 10000\n"
    )
    argvs = [
        [*base, "--port", str(ports.master_port), "--dir", str(tmp_path)],
        [
            *base,
            "--port",
            str(ports.replica_port),
            "--dir",
            str(tmp_path),
            "--replicaof",
            "127.0.0.1",
            str(ports.master_port),
        ],
        [binary, str(config), "--sentinel"],
    ]
    logs = [(tmp_path / f"redis-{n}.log").open("wb") for n in range(3)]
    processes = [
        subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT) for argv, log in zip(argvs, logs, strict=True)
    ]
    try:
        replica = redis.Redis(port=ports.replica_port)
        wait_until(
            lambda: _quiet(lambda: replica.info("replication").get("master_link_status") == "up"),
            timeout_s=20,
            what="the replica to sync",
        )
        wait_until(
            lambda: _quiet(lambda: int(ports.sentinel().info("sentinel")["master0"]["slaves"]) >= 1),
            timeout_s=20,
            what="the Sentinel to see the replica",
        )
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        for log in logs:
            log.close()


def _quiet(probe: object) -> bool:
    try:
        return bool(probe())  # type: ignore[operator]
    except (redis.RedisError, OSError, ValueError):
        return False
