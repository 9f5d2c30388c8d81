"""What every operator CLI does around its work: never a traceback, every failure a sentence and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def guarded(
    name: str, run: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None, interrupted: str = ""
) -> int:
    """``run(argv)``, with Ctrl-C, argparse's exits and any error turned into an exit code and one line."""
    try:
        return run(argv)
    except KeyboardInterrupt:
        if interrupted:
            print(interrupted, file=sys.stderr)
        return EXIT_FAILED
    except SystemExit as exc:  # argparse and the settings: 2 for usage or configuration errors, 0 for --help
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    except Exception as exc:
        print(f"{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
