"""Which Lambda serves which blueprint: the one list of the audiences, and the app each entry builds from its own.

A cold container pays for every route its app declares (Chalice's registration, each `endpoint(...)`, the route
modules' imports) before its first request. One function for every route made a member's login pay for the till's and
the console's ~100 routes, and every scheduled run for the whole API. So each audience is a function of its own:

- `member` (lambdas/member.py): the mini program (and the few admin routes that live beside a member's in their
  module: a top-up's refund, coupon templates, the card's set-up, an erasure; and staff login, which is auth's);
- `wechat` (lambdas/wechat.py): what WeChat's servers call, anonymous and signed (routes/wechat/): WeChat Pay's
  notifies and the 卡包's card events. Apart from the member's 47 routes, a cold notify declares 4, and an operator can
  give payment callbacks reserved concurrency that a flood of members cannot take (docs/deploy.md);
- `till` (lambdas/till.py): the cashier's checkout, orders, refunds and redemptions;
- `console` (lambdas/console.py): the merchant's back office, reports, the spec and the console's files;
- `jobs` (lambdas/jobs.py): the scheduled functions and the table's stream, with no route.

The module a route is declared in decides its function: every blueprint belongs to exactly one audience, and
`routes/gateway.py` (whose middleware gives Chalice's own 405/415/500 answers kabao's error shape) to every API one.
app.py is their union: what `chalice package` reads to write the API's paths, and what `make dev` and the tests
serve; `infra/deploy/template.py` then points each path at the function of its audience and each schedule at
lambdas/jobs.py (tests/infra/test_template_functions.py holds both).

A blueprint remembers the one app it was registered in (Chalice's `current_request`), so one process builds one app:
an entry, or app.py, never both (each Lambda imports one; tests import entries in a fresh interpreter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalice import Chalice

GATEWAY = "mini_program_api.routes.gateway"
_ROUTES = "mini_program_api.routes."
# audience -> the modules whose `bp` it registers, in order (gateway first for the API's).
AUDIENCES: dict[str, tuple[str, ...]] = {
    "member": tuple(
        _ROUTES + name
        for name in (
            "auth",
            "me",
            "member_info",
            "spending",
            "topup",
            "coupons",
            "rewards",
            "wallet",
            "data_rights",
        )
    ),
    "wechat": (_ROUTES + "wechat.topup", _ROUTES + "wechat.wallet"),
    "till": (_ROUTES + "till",),
    "console": tuple(
        _ROUTES + name
        for name in (
            "openapi",
            "admin",
            "accounts",
            "member_care",
            "issue_jobs",
            "member_imports",
            "reports",
            "webhooks",
            "console",
        )
    ),
    "jobs": (
        "functions.topup_reconciliation",
        "functions.lifecycle",
        "functions.issue_jobs",
        "functions.member_imports",
        "functions.member_jobs",
        "functions.wallet_sync",
        "functions.webhooks",
        "functions.report_jobs",
        "functions.reported",  # the runs' JSON logs, set up before each run (its middleware)
    ),
}
API = ("member", "wechat", "till", "console")  # the audiences API Gateway calls; `jobs` declares no route


def audience_of(module: str) -> str:
    """The audience whose function serves what `module` declares (a route's view module, a schedule's)."""
    found = [name for name, modules in AUDIENCES.items() if module in modules]
    if len(found) != 1:
        raise LookupError(f"{module} is in {len(found)} audiences ({', '.join(found) or 'none'}): lambdas/audiences.py")
    return found[0]


def build(*audiences: str) -> Chalice:
    """A Chalice app holding the blueprints of these audiences (gateway's once, first)."""
    from chalice import Chalice

    modules = [GATEWAY] if set(audiences) & set(API) else []
    modules += [module for audience in audiences for module in AUDIENCES[audience]]
    app = Chalice(app_name="kabao")
    for module in modules:
        # __import__, not importlib.import_module: `python -X importtime` (bench/cold_start.py) times only the former.
        blueprint = __import__(module, fromlist=["bp"]).bp
        if blueprint._current_app is not None:  # its current_request would be the other app's
            raise RuntimeError(f"{module}.bp already serves another app: one entry (or app.py) per process")
        app.register_blueprint(blueprint)
    return app
