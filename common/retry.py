"""The one retry policy of every outgoing call (DMarket, the Sentry Web API, Telegram) and of retried tasks.

Bounded twice: at most ``max_attempts`` attempts, and never past ``deadline_s`` from the first attempt
(waits included). Between attempts: exponential backoff with full jitter, capped at ``max_backoff_s``, so
clients that failed together do not come back together; but never sooner than the server asked
(``Retry-After``, Telegram's ``retry_after``): a server's wait is honoured exactly, however long, and when
honouring it would cross the deadline the call gives up at once with the server's error, which carries
the wait so the caller can tell people how long it really is.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

# What a client says about one failure: retry it at all, and the least wait the server asked for.
Retryable = Callable[[BaseException], bool]
ServerWait = Callable[[BaseException], "float | None"]
Sleep = Callable[[float], None]


def _no_server_wait(_: BaseException) -> float | None:
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one call may be retried. Pure data; :meth:`retrying` runs it."""

    max_attempts: int
    deadline_s: float
    base_s: float = 0.5
    max_backoff_s: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.deadline_s <= 0 or self.base_s < 0 or self.max_backoff_s < self.base_s:
            raise ValueError(
                "need deadline_s > 0 and 0 <= base_s <= max_backoff_s, got "
                f"deadline_s={self.deadline_s}, base_s={self.base_s}, max_backoff_s={self.max_backoff_s}"
            )

    def backoff_s(self, retry_number: int) -> float:
        """The jittered wait before retry ``retry_number`` (1 = the first retry): uniform in [0, cap]."""
        cap = min(self.max_backoff_s, self.base_s * 2 ** max(0, retry_number - 1))
        return random.uniform(0.0, cap)  # noqa: S311 - jitter, not cryptography

    def outage_wait_s(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` of work riding out an outage: equal jitter, at least half the
        cap, so the retries together surely span :meth:`outage_span_s` instead of maybe bunching at the start."""
        cap = float(min(self.max_backoff_s, self.base_s * 2 ** max(0, retry_number - 1)))
        return cap / 2 + random.uniform(0.0, cap / 2)  # noqa: S311 - jitter, not cryptography

    def outage_span_s(self) -> tuple[float, float]:
        """The least and the most time all retries of :meth:`outage_wait_s` wait together."""
        caps = [min(self.max_backoff_s, self.base_s * 2 ** max(0, n - 1)) for n in range(1, self.max_attempts)]
        return sum(caps) / 2, float(sum(caps))

    def wait_s(self, retry_number: int, server_wait_s: float | None = None) -> float:
        """The wait before retry ``retry_number``: the backoff, but never less than what the server asked."""
        backoff = self.backoff_s(retry_number)
        return backoff if server_wait_s is None else max(backoff, server_wait_s)

    def retrying(
        self,
        retryable: Retryable,
        server_wait_s: ServerWait = _no_server_wait,
        *,
        sleep: Sleep = time.sleep,
        before_sleep: Callable[[RetryCallState], None] | None = None,
    ) -> Retrying:
        """A tenacity ``Retrying`` that runs this policy; the last error is re-raised as it was."""

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            hint = server_wait_s(error) if error is not None else None
            return self.wait_s(state.attempt_number, hint)

        return Retrying(
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(self.deadline_s),
            wait=wait,
            retry=retry_if_exception(retryable),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


# A call that is a courtesy (a progress edit): one attempt, no waiting.
ONCE = RetryPolicy(max_attempts=1, deadline_s=1.0, base_s=0.0, max_backoff_s=0.0)
