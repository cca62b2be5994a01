"""schemathesis against the local stack: every operation of openapi.json, generated valid and invalid input, with the
member, staff and admin tokens of one merchant's real accounts (each operation that takes a token must answer at
least one generated call past authentication, so no operation is fuzzed only at the door); then stateful runs that follow the spec's links (an order made, then
read; a template made, then changed). Zero server errors, every status and body as the spec declares it.

Bounded for `make test` (`KABAO_FUZZ_EXAMPLES`, `KABAO_FUZZ_STEPS`); `make fuzz` runs the same with more.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ROOT

EXAMPLES = int(os.environ.get("KABAO_FUZZ_EXAMPLES", "5"))
STEPS = int(os.environ.get("KABAO_FUZZ_STEPS", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)

with open(os.path.join(ROOT, "openapi.json"), encoding="utf-8") as _spec:
    schema = schemathesis.openapi.from_dict(json.load(_spec))


@pytest.fixture
def tokens(api: Any, make_merchant: Any) -> dict[str, str]:
    """A merchant with a member whose card is open, a cashier who logged in at the merchant's store s1 and an
    admin: real accounts, so every operation can get past authentication and reach its handler."""
    merchant = make_merchant()
    admin = api.admin_token(merchant)
    login = api.login(merchant)
    member = login["token"]
    assert api.post("/v1/me/phone", {"code": "phone:13800001111"}, token=member)[0] == 200
    assert api.post("/v1/me/card", {"agreed_terms_version": login["merchant"]["terms_version"]}, token=member)[0] == 200
    return {"member": member, "staff": api.staff_token(merchant, "s1"), "admin": admin}


@pytest.fixture
def answers() -> Iterator[list[int]]:
    """The statuses a token-taking operation answered over all its generated calls: at least one must be past
    authentication (not 401/403), or the fuzz never reached the operation's handler and tested nothing there."""
    seen: list[int] = []
    yield seen
    if seen and all(status in (401, 403) for status in seen):
        pytest.fail(f"every call answered {sorted(set(seen))}: the fuzz never got past authentication")


_turn = itertools.count()


def _headers(case: Any, tokens: dict[str, str]) -> dict[str, str]:
    """The token the operation asks for; every fifth call another role's, which must be refused as declared."""
    roles = [role for requirement in case.operation.definition.raw.get("security", []) for role in requirement]
    if not roles:
        return {}
    role = roles[0]
    if next(_turn) % 5 == 4:
        role = next(r for r in ("member", "staff", "admin") if r not in roles)
    return {"Authorization": f"Bearer {tokens[role]}"}


@schema.parametrize()
@FUZZ
def test_every_operation_answers_as_declared(
    case: Any, tokens: dict[str, str], api_url: str, answers: list[int]
) -> None:
    headers = _headers(case, tokens)
    response = case.call_and_validate(base_url=api_url, headers=headers, checks=CHECKS)
    if headers:
        answers.append(response.status_code)


def test_linked_operations_answer_as_declared(tokens: dict[str, str], api_url: str) -> None:
    """Stateful: ids a response gives (order_id, template_id, plan_id...) are fed to the operations linked to it."""
    base = schema.as_state_machine()

    class Journey(base):  # type: ignore[valid-type,misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": api_url, "headers": _headers(case, tokens)}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Journey.run(
        settings=settings(
            max_examples=max(1, EXAMPLES // 2),
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
