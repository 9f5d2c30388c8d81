"""Wrap each command handler in a Sentry transaction, with the breadcrumb and user context operators expect."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sentry_sdk
from telegram import Update
from telegram.ext import ContextTypes

from common.observability.breadcrumbs import add_telegram_breadcrumb

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[Any]]
H = TypeVar("H", bound=Handler)


def observed_command(name: str) -> Callable[[H], H]:
    """Run the handler inside a `telegram.command` transaction that Celery tasks it enqueues continue."""

    def decorate(handler: H) -> H:
        @functools.wraps(handler)
        async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Any:
            user_id = update.effective_user.id if update.effective_user else None
            with sentry_sdk.isolation_scope() as scope:
                scope.set_tag("component", "telegram")
                scope.set_tag("command", f"/{name}")
                if user_id is not None:
                    # Id only: no names or usernames leave the process (send_default_pii is off too).
                    scope.set_user({"id": str(user_id)})
                add_telegram_breadcrumb(f"/{name}", user_id=user_id)
                with sentry_sdk.start_transaction(op="telegram.command", name=f"/{name}", source="task"):
                    return await handler(update, context)

        return wrapper  # type: ignore[return-value]

    return decorate
