"""``python -m bench``: run every ``bench/bench_*.py`` module's ``main()`` in turn.

Each benchmark runs in its own interpreter: they configure process-wide state (the Celery app, the cached
settings, the Sentry client), so running one after another in a single process would let the first skew
the rest. A failing benchmark does not stop the others; the exit status says whether all of them passed.
"""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

import bench

ROOT = Path(__file__).resolve().parent.parent


def discover() -> list[str]:
    """Names of the benchmark modules (``bench_*``), in a stable order."""
    return sorted(info.name for info in pkgutil.iter_modules(bench.__path__) if info.name.startswith("bench_"))


# How long a benchmark gets to clean up (stop its workers, delete its keys) after Ctrl-C.
CLEANUP_GRACE_S = 60.0


def run_one(name: str) -> int:
    # -c rather than -m: a module need not have a __main__ guard to be run through its main().
    code = f"import sys; from bench.{name} import main; sys.exit(main())"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        return child.wait()
    except KeyboardInterrupt:
        # The child got the same SIGINT; subprocess.run would SIGKILL it after 0.25 s, mid-cleanup.
        try:
            child.wait(CLEANUP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="run only these benchmarks (e.g. bench_celery); default: all")
    args = parser.parse_args(argv)
    available = discover()
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available) or 'none'}")
    failed = []
    for name in args.names or available:
        print(f"=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = run_one(name)
        print(f"=== bench.{name}: exit {code} after {time.monotonic() - started:.0f}s ===\n", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
