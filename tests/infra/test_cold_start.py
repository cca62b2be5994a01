"""What a cold start loads: the cold-start win held by a cheap check, not by a timer (bench/cold_start.py times it).

Each Lambda imports its audience's entry (lambdas/: the member's, the till's, the console's or the jobs') before its
first request; each path's probe below imports the one the template assigns it. app.py, every audience's union, is
checked too (make dev and the tests serve it). An import declares routes and schedules, nothing more: each handler
imports the domain modules it calls (and with them PynamoDB, botocore's client, PyJWT), the WeChat SDKs, requests
and cryptography belong to the few handlers that call WeChat or touch a phone number, and pydantic and the request
models are imported and built on first use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("wechatpy", "wechatpayv3", "requests", "cryptography", "pydantic", "pynamodb", "botocore", "jwt")
# What the declarations need: the route and schedule modules, and the few leaf modules they read at import.
DECLARATIONS = ("mini_program_api.routes", "functions", "mini_program_api.telemetry")
LEAVES = {
    "mini_program_api",
    "mini_program_api.platform",
    "mini_program_api.platform.clock",
    "mini_program_api.platform.config",
    "mini_program_api.platform.errors",
}
_PROBE = """
import json, sys
import app
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(%r))
ours = sorted(name for name in sys.modules if name.split(".")[0] in ("mini_program_api", "functions"))
from pydantic import BaseModel
from mini_program_api.routes import schemas
models = [m for m in vars(schemas).values() if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel]
print(json.dumps({
    "heavy": heavy,
    "ours": ours,
    "models": len(models),
    "built": sorted(m.__name__ for m in models if m.__pydantic_complete__),
}))
""" % (HEAVY,)


@cache  # one fresh interpreter serves both checks: its answer does not change within a run
def _import_app() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KABAO_")}
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_app_loads_no_sdk_and_no_request_model() -> None:
    """`heavy` is read right after `import app`; then schemas.py is imported to see that even its import
    builds no validator (defer_build), which the first request to each route pays instead."""
    seen = _import_app()
    assert seen["heavy"] == []
    assert seen["models"] > 10 and seen["built"] == []


def test_import_app_loads_no_domain_module() -> None:
    """A scheduled function's container never loads the API's domain code, nor a member's request the
    reports': each handler imports what it calls. A module-level domain import in a route or function
    module shows up here."""
    ours = _import_app()["ours"]
    domain = [name for name in ours if name not in LEAVES and not name.startswith(DECLARATIONS)]
    assert domain == []
    assert "mini_program_api.routes.me" in ours and "functions.lifecycle" in ours  # the probe did import app


def test_every_model_a_route_names_exists() -> None:
    """Routes name their models (endpoint.py); a typo would otherwise surface as a 500 on first use."""
    from pydantic import BaseModel

    import app  # noqa: F401  (registers every route)
    from mini_program_api.routes.endpoint import ROUTES, model

    named = {name for r in ROUTES for name in (r.body, r.query, r.response) if name}
    assert len(named) > 10
    assert all(issubclass(model(name), BaseModel) for name in named)


# What each path's first request must not load: the Lambda that serves it cold pays for every module it imports
# (bench/cold_start.py times it). `responses.py` is the answers' models, checked on local stages only; the
# probe answers as production does. A new module-level import that drags one of these in fails here.
# A merchant's configuration (merchants/configuration.py: its specs' dataclasses, the settings' writes) is the
# admin's and onboarding's; every path reads the merchant through merchants/merchants.py.
_EVERY_PATH = (
    "mini_program_api.routes.responses",
    "mini_program_api.wallet.setup",
    "mini_program_api.merchants.configuration",
)
_NOT_STAFF = ("mini_program_api.staff.accounts", "mini_program_api.platform.passwords")  # a staff session's checks
# A member's view shows the masked copy stored beside the cipher (platform/pii.py `shown_phone`): no key derived,
# no SSM read of the PII key, no decryption. PyJWT loads the rest of cryptography, so only these are named.
_NO_DECRYPTION = ("cryptography.fernet", "cryptography.hazmat.primitives.kdf.hkdf")
# What a member's writes put beside the member row (a first login's enrolment, a tier upgrade, a claim's counts):
# a call that only reads the member (a returning login, the card) loads none of it (members/enrolment.py brings
# reports and webhooks, members/upgrades.py webhooks).
_NOT_WRITING_A_MEMBER = (
    "mini_program_api.reports",
    "mini_program_api.webhooks",
    "mini_program_api.money",
    "mini_program_api.platform.ids",
)
_NOT_LOADED = {
    "login": (
        *_NOT_STAFF,
        *_NO_DECRYPTION,
        *_NOT_WRITING_A_MEMBER,
        "mini_program_api.jobs",
        "wechatpy",
        "requests",
        "wechatpayv3",
        "mini_program_api.wechat.token_client",
        "mini_program_api.wechat.pay",
        "mini_program_api.till",
        "mini_program_api.routes.schemas",
        "pydantic",  # its body is checked by hot_bodies.py
        "mini_program_api.routes.hot_schemas",
        "mini_program_api.topup",
        "mini_program_api.coupons",
    ),
    "me": (
        *_NOT_STAFF,
        *_NO_DECRYPTION,
        *_NOT_WRITING_A_MEMBER,
        # The card counts the coupons held (coupons/held.py) and lists no offers: not the shelf nor its copy, nor
        # the due lists a coupon's reminder is on (coupons/reminders.py).
        "mini_program_api.coupons.shelf",
        "mini_program_api.coupons.eligibility",
        "mini_program_api.platform.container_copy",
        "mini_program_api.jobs",
        "pydantic",
        "wechatpy",
        "wechatpayv3",
        "requests",
        "mini_program_api.routes.schemas",
        "mini_program_api.wechat",
        "mini_program_api.till",
        "mini_program_api.topup",
    ),
    "checkout": (
        "wechatpy",
        "wechatpayv3",
        "requests",
        "cryptography",
        "mini_program_api.wechat",
        "mini_program_api.routes.schemas",
        "pydantic",  # its body is checked by hot_bodies.py, without pydantic
        "mini_program_api.routes.hot_schemas",
        # A sale marks the life-cycle lists (members/due_dates.py) and runs none of their jobs, whose gifts claim
        # coupons.
        "mini_program_api.members.lifecycle",
        "mini_program_api.coupons.claims",
        # A coupon's use is coupons/redemption.py (its half-the-order cap there): not the templates' module, nor
        # the shelf, stock and eligibility it brings.
        "mini_program_api.coupons.templates",
        "mini_program_api.coupons.shelf",
        "mini_program_api.coupons.stock",
        "mini_program_api.coupons.eligibility",
        "mini_program_api.platform.container_copy",
        # The sale adds to the member row's RFM months (reports/rfm_months.py), not the nightly scoring job.
        "mini_program_api.reports.rfm",
        "mini_program_api.reports.roster",
        "mini_program_api.jobs.runner",
        # The spending password's phone side (binding a number, notices) is not a sale's, nor the top-ups' module
        # (a refund's prepaid cap).
        "mini_program_api.members.enrolment",
        "mini_program_api.members.notices",
        "mini_program_api.platform.pii",
        "mini_program_api.topup",
        # The probe's merchant has no webhook endpoint: the sale writes no outbox item (webhooks/outbox.py).
        "mini_program_api.webhooks.models",
    ),
    "notify": (
        *_NOT_STAFF,
        "aws_lambda_powertools",  # the TopupsCredited line is telemetry/metrics.py's own json (~9 ms)
        # A payment's credit: not a refund's settling (with the staff audit trail), nor what ordering reads and writes.
        "mini_program_api.topup.refunds",
        "mini_program_api.staff",
        "mini_program_api.members",
        "pydantic",
        "jwt",
        "wechatpy",
        "wechatpayv3",  # verified and decrypted by wechat/pay_notify.py, without the WeChat Pay client
        "requests",
        "mini_program_api.wechat.pay",
        "mini_program_api.routes.schemas",
        "mini_program_api.till",
        "mini_program_api.coupons",
        # The probe's merchant has no webhook endpoint: its credit writes no outbox item, so builds no webhook model
        # (webhooks/outbox.py imports them where an event is written).
        "mini_program_api.webhooks.models",
        "mini_program_api.platform.ids",
        "mini_program_api.platform.paging",  # a member's ledger page (ledger.history), not a posting
        # AES-GCM from cryptography's bindings, as `ciphers.aead` has it (wechat/pay_notify.py): not every cipher.
        "cryptography.hazmat.primitives.ciphers",
        "cryptography.hazmat.decrepit",
    ),
    "job": (
        *_NOT_STAFF,
        "aws_lambda_powertools",  # the run's JobItemsDue/JobItemsFailed line, as the notify's
        "pydantic",
        "jwt",
        "wechatpy",
        "wechatpayv3",
        "requests",
        "cryptography",
        "mini_program_api.routes.schemas",
        "mini_program_api.till",
        "mini_program_api.topup",
        "mini_program_api.coupons",  # nothing due (the probe's stack runs no issue job): issuing stays unloaded
        "mini_program_api.members",
    ),
}


def _loaded(modules: list[str], denied: tuple[str, ...]) -> list[str]:
    return sorted({d for d in denied for m in modules if m == d or m.startswith(d + ".")})


# The audience whose function the template runs for each path (lambdas/audiences.py).
_AUDIENCE = {"login": "member", "me": "member", "checkout": "till", "notify": "wechat", "job": "jobs"}


def _other_audiences(audience: str) -> tuple[str, ...]:
    """What a function of `audience` never declares: the other audiences' route and schedule modules (the jobs',
    any route module; an API audience's, any scheduled function)."""
    from lambdas.audiences import AUDIENCES

    if audience == "jobs":
        return ("mini_program_api.routes", "app")
    others = (m for name, modules in AUDIENCES.items() if name not in (audience, "jobs") for m in modules)
    return (*others, "functions", "app")


@pytest.mark.parametrize("path", sorted(_NOT_LOADED))
def test_a_paths_first_request_loads_only_what_it_needs(stack: Any, path: str) -> None:
    """A fresh interpreter imports the entry the template assigns to this path, serves its first request in-process
    as the Lambda runtime would (bench/cold_start.py's probe, on the local stack) and answers; then no denied module
    may be in sys.modules, nor another audience's routes or schedules."""
    from bench.cold_start import Paths, first_answer, product_env

    paths = Paths(stack)
    request = getattr(paths, path)()
    assert request.handler.startswith(f"lambdas.{_AUDIENCE[path]}.")
    moved = datetime.now(UTC).isoformat() if os.environ.get("KABAO_TEST_EPOCH") else None  # make test-dates
    seen = first_answer(request, [str(ROOT)], product_env(), at=moved)
    assert seen["answer"] in ("200", "204", "ran"), seen["stderr"][-2000:]
    assert f"lambdas.{_AUDIENCE[path]}" in seen["modules"]  # the probe did import the entry and serve the request
    assert _loaded(seen["modules"], _EVERY_PATH + _NOT_LOADED[path] + _other_audiences(_AUDIENCE[path])) == []


def test_a_forged_notify_is_refused_on_a_cold_start_without_the_wechat_pay_client(stack: Any) -> None:
    """The notify's first request with a signature WeChat Pay did not make: 401, and what refused it was
    wechat/pay_notify.py (the client's modules are not loaded)."""
    from bench.cold_start import Paths, first_answer, product_env

    request = Paths(stack).notify()
    headers = request.event["headers"]
    signature = headers["wechatpay-signature"]
    headers["wechatpay-signature"] = ("A" if signature[0] != "A" else "B") + signature[1:]
    moved = datetime.now(UTC).isoformat() if os.environ.get("KABAO_TEST_EPOCH") else None
    seen = first_answer(request, [str(ROOT)], product_env(), at=moved)
    assert seen["answer"] == "401", seen["stderr"][-2000:]
    assert "mini_program_api.wechat.pay_notify" in seen["modules"]
    assert _loaded(seen["modules"], ("wechatpayv3", "requests", "mini_program_api.wechat.pay")) == []


@pytest.mark.parametrize("path", ["login", "me"])
def test_a_member_paths_first_request_loads_no_powertools(stack: Any, path: str) -> None:
    """The request line is the standard library's logging (telemetry/logs.py): Powertools' package, whose
    `__init__` loads Logger, Metrics and Tracer (~8 ms), is for the paths that emit a metric or read SSM."""
    from bench.cold_start import Paths, first_answer, product_env

    request = getattr(Paths(stack), path)()
    moved = datetime.now(UTC).isoformat() if os.environ.get("KABAO_TEST_EPOCH") else None
    seen = first_answer(request, [str(ROOT)], product_env(), at=moved)
    assert seen["answer"] == "200", seen["stderr"][-2000:]
    assert "mini_program_api.telemetry.logs" in seen["modules"]  # the request line was set up and written
    assert _loaded(seen["modules"], ("aws_lambda_powertools",)) == []


def test_a_signed_in_paths_first_request_reads_an_ssm_jwt_secret_without_an_sdk(stack: Any) -> None:
    """As in AWS, the JWT secret is an `ssm:` reference: the first request reads it through the Parameters and
    Secrets extension (its stand-in here) on loopback, loading neither Powertools nor boto3 and its SSM client.
    Nothing may reach AWS: SSM's endpoint is a closed loopback port for the probe."""
    from bench.cold_start import Paths, first_answer, product_env

    name = f"/kabao/{os.environ['KABAO_STAGE']}/jwt-secret"
    request = Paths(stack).me()
    env = {
        **product_env(),
        "KABAO_JWT_SECRET": f"ssm:{name}",
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": os.environ["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"],
        "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9",
    }
    reads = stack.parameters.reads.count(name)
    moved = datetime.now(UTC).isoformat() if os.environ.get("KABAO_TEST_EPOCH") else None
    seen = first_answer(request, [str(ROOT)], env, at=moved)
    assert _loaded(seen["modules"], ("aws_lambda_powertools", "boto3")) == []
    assert seen["answer"] == "200", seen["stderr"][-2000:]
    assert stack.parameters.reads.count(name) == reads + 1  # read through the extension's stand-in
