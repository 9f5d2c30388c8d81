"""Each command handler in a Sentry transaction, with the breadcrumb trail and the user context operators expect."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sentry_sdk
from telegram import Update
from telegram.ext import ContextTypes

from common.observability.breadcrumbs import add_telegram_breadcrumb, command_trail

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[Any]]
H = TypeVar("H", bound=Handler)

# Span statuses a command ends with (Sentry's, after gRPC's): what happened, in the transaction list.
OK, INVALID_ARGUMENT, PERMISSION_DENIED, UNAVAILABLE = "ok", "invalid_argument", "permission_denied", "unavailable"
ALREADY_RUNNING, INTERNAL_ERROR, DEADLINE_EXCEEDED = "failed_precondition", "internal_error", "deadline_exceeded"


def command_status(status: str) -> None:
    """Say how the running command ended (a usage reply, a refusal, the queue down); "ok" unless told."""
    span = sentry_sdk.get_current_span()
    transaction = span.containing_transaction if span is not None else None
    if transaction is not None:
        transaction.set_status(status)


def observed_command(name: str) -> Callable[[H], H]:
    """Run the handler inside a `telegram.command` transaction that Celery tasks it enqueues continue.

    The command's breadcrumbs (its own "Bot command: /name" first) are kept for the tasks it sends, which carry
    them to the worker (common/observability/breadcrumbs.py).
    """

    def decorate(handler: H) -> H:
        @functools.wraps(handler)
        async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Any:
            user_id = update.effective_user.id if update.effective_user else None
            chat_id = update.effective_chat.id if update.effective_chat else None
            with sentry_sdk.isolation_scope() as scope, command_trail():
                scope.set_tag("component", "telegram")
                scope.set_tag("command", f"/{name}")
                if user_id is not None:
                    # Id only: no names or usernames leave the process (send_default_pii is off too).
                    scope.set_user({"id": str(user_id)})
                add_telegram_breadcrumb(f"/{name}", user_id=user_id, chat_id=chat_id)
                with sentry_sdk.start_transaction(op="telegram.command", name=f"/{name}", source="task") as transaction:
                    transaction.set_status(OK)
                    try:
                        return await handler(update, context)
                    except Exception:
                        transaction.set_status(INTERNAL_ERROR)
                        raise

        return wrapper  # type: ignore[return-value]

    return decorate
