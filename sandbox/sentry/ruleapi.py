"""Issue alert rules endpoints: ``/api/0/projects/{org}/{project}/rules/`` with Sentry's validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .apibase import ApiError, api_route, check_org_and_project, read_json
from .responses import NOT_FOUND
from .rules import RuleError, duplicate_of, validate_rule
from .store import SentryState

RULE_WRITE = frozenset({"project:write", "project:admin", "alerts:write"})
RULE_SCOPES: Mapping[str, frozenset[str]] = {
    "GET": frozenset({"project:read", "alerts:read"}) | RULE_WRITE,
    "POST": RULE_WRITE,
    "PUT": RULE_WRITE,
    "DELETE": RULE_WRITE,
}


async def _validated(request: Request, state: SentryState, rule_id: int | None) -> dict[str, Any]:
    """The cleaned rule, or 400 with Sentry's errors (including its refusal of an exact duplicate)."""
    try:
        cleaned = validate_rule(await read_json(request), state.webhooks.installation_uuid)
    except RuleError as exc:
        raise ApiError(400, exc.errors) from None
    others = [rule for other_id, rule in state.rules.items() if other_id != rule_id]
    duplicate = duplicate_of(cleaned, others)
    if duplicate is not None:
        message = f"This rule is an exact duplicate of '{duplicate['name']}' in this project and may not be created."
        raise ApiError(400, {"name": [message], "ruleId": [int(duplicate["id"])]})
    return cleaned


async def rule_collection(request: Request, state: SentryState) -> Response:
    check_org_and_project(request, state)
    if request.method == "GET":
        return JSONResponse([state.rules[rule_id] for rule_id in sorted(state.rules, reverse=True)])
    return JSONResponse(state.save_rule(await _validated(request, state, None)))  # Sentry answers 200


async def rule_details(request: Request, state: SentryState) -> Response:
    check_org_and_project(request, state)
    try:
        rule_id = int(request.path_params["rule_id"])
    except ValueError:
        rule_id = 0
    if rule_id not in state.rules:
        raise ApiError(404, NOT_FOUND)
    if request.method == "DELETE":
        del state.rules[rule_id]
        return Response(status_code=202)
    if request.method == "PUT":  # a PUT replaces the whole rule
        return JSONResponse(state.save_rule(await _validated(request, state, rule_id), rule_id))
    return JSONResponse(state.rules[rule_id])


def routes(project: str) -> list[Route]:
    return [
        api_route(f"{project}/rules/", "rules", ["GET", "POST"], RULE_SCOPES, rule_collection),
        api_route(f"{project}/rules/{{rule_id}}/", "rule", ["GET", "PUT", "DELETE"], RULE_SCOPES, rule_details),
    ]
