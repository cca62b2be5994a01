"""schemathesis against the local stack: every operation of openapi.json, generated valid and invalid input, with the
member, staff and admin tokens of one merchant; then stateful runs that follow the spec's links (an order made, then
read; a template made, then changed). Zero server errors, every status and body as the spec declares it.

Bounded for `make test` (`KABAO_FUZZ_EXAMPLES`, `KABAO_FUZZ_STEPS`); `make fuzz` runs the same with more.
"""
from __future__ import annotations

import itertools
import json
import os
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
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck))

with open(os.path.join(ROOT, "openapi.json"), encoding="utf-8") as _spec:
    schema = schemathesis.openapi.from_dict(json.load(_spec))


@pytest.fixture
def tokens(api: Any, make_merchant: Any) -> dict[str, str]:
    """A merchant with a member whose card is open, a cashier at store s1 and an admin (tokens minted directly:
    staff login and its scrypt are tested elsewhere, and this runs once per operation)."""
    from mini_program_api.platform import auth

    merchant = make_merchant()
    admin = api.admin_token(merchant)
    assert api.post("/v1/admin/stores", {"store_id": "s1", "name": "Store 1"}, token=admin)[0] == 201
    login = api.login(merchant)
    member = login["token"]
    assert api.post("/v1/me/phone", {"code": "phone:13800001111"}, token=member)[0] == 200
    assert api.post("/v1/me/card", {"agreed_terms_version": login["merchant"]["terms_version"]}, token=member)[0] == 200
    staff = auth.issue(auth.Principal(merchant.merchant_id, "cashier", "staff", "s1"))[0]
    return {"member": member, "staff": staff, "admin": admin}


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
def test_every_operation_answers_as_declared(case: Any, tokens: dict[str, str], api_url: str) -> None:
    case.call_and_validate(base_url=api_url, headers=_headers(case, tokens), checks=CHECKS)


def test_linked_operations_answer_as_declared(tokens: dict[str, str], api_url: str) -> None:
    """Stateful: ids a response gives (order_id, template_id, plan_id...) are fed to the operations linked to it."""
    base = schema.as_state_machine()

    class Journey(base):  # type: ignore[valid-type,misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": api_url, "headers": _headers(case, tokens)}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Journey.run(settings=settings(max_examples=max(1, EXAMPLES // 2), stateful_step_count=STEPS, deadline=None,
                                  derandomize=True, database=None, suppress_health_check=list(HealthCheck)))
