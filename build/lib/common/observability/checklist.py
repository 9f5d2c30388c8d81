"""The operators' production checklist, as far as one process can see it: a pure function over its status."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

# The guide's troubleshooting section: breadcrumbs need sentry-sdk >= 1.40.
MIN_SDK_VERSION = (1, 40)
# The guide's best practice for production: trace 10% of transactions.
MAX_PRODUCTION_SAMPLE_RATE = 0.1
PRODUCTION = "production"


class CheckState(Enum):
    OK = "ok"
    FAIL = "fail"
    # The item does not apply to what this process runs as (e.g. the sample-rate limit outside production).
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class CheckItem:
    """One checklist line: which item, its verdict, and the value that was seen (never a secret)."""

    key: str  # "dsn" | "environment" | "sample_rate" | "sdk_version"
    state: CheckState
    observed: str


def parse_version(text: str) -> tuple[int, ...]:
    """``"2.19.0"`` -> ``(2, 19, 0)``; pre-release suffixes are ignored (``"2.0.0rc1"`` -> ``(2, 0, 0)``)."""
    parts = []
    for piece in text.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def production_checklist(status: dict[str, Any]) -> list[CheckItem]:
    """Judge one process's ``SentryStatus.as_dict()`` against the guide's production checklist.

    Whether a deployment *is* production is only known from SENTRY_ENVIRONMENT itself, so the
    environment item fails only when it is missing; a staging or development value is reported as
    not applicable, and the sample-rate limit is enforced only when the environment is production.
    """
    enabled = bool(status.get("enabled"))
    environment = status.get("environment")
    rate = status.get("traces_sample_rate")
    sdk = str(status.get("sdk_version") or "")
    in_production = environment == PRODUCTION

    items = [CheckItem("dsn", CheckState.OK if enabled else CheckState.FAIL, "set" if enabled else "not set")]

    if in_production:
        items.append(CheckItem("environment", CheckState.OK, PRODUCTION))
    elif environment:
        items.append(CheckItem("environment", CheckState.NOT_APPLICABLE, str(environment)))
    else:
        items.append(CheckItem("environment", CheckState.FAIL, "not set"))

    if rate is None:
        items.append(CheckItem("sample_rate", CheckState.FAIL, "not set"))
    elif not in_production:
        items.append(CheckItem("sample_rate", CheckState.NOT_APPLICABLE, f"{rate:g}"))
    else:
        state = CheckState.OK if float(rate) <= MAX_PRODUCTION_SAMPLE_RATE else CheckState.FAIL
        items.append(CheckItem("sample_rate", state, f"{rate:g}"))

    sdk_ok = bool(sdk) and parse_version(sdk) >= MIN_SDK_VERSION
    items.append(CheckItem("sdk_version", CheckState.OK if sdk_ok else CheckState.FAIL, sdk or "unknown"))
    return items
