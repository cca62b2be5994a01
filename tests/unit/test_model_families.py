"""A hot path builds only the model classes it uses: the table's models are split by family (`mini_program_api/db/`).

PynamoDB's metaclass inspects each model class as it is made, about 0.1-0.3 ms a class, so a cold container's first
request paid for all 45 classes of one `db/models.py` whatever it read: 6-9 ms of the login's and the card's first
answer. `db/models.py` now holds the base, the shared indexes and mixins, and the merchant, lookup and member rows
that nearly every request reads; each other family (ledger, orders, coupons, staff, jobs...) is a module of its own.

Per path, a fresh interpreter imports the domain modules its handler and its authentication import (as
`routes/auth.py`, `routes/me.py`, `routes/till.py`, `routes/topup.py` and `routes/endpoint.py` do on the first
request), then lists the `mini_program_api.db` family modules loaded and the classes they define. Both must stay
within the path's allow-list: a top-level import of a family for one rare branch or a type hint shows up here (import
it inside the function, or under TYPE_CHECKING). `tests/infra/test_cold_start.py` runs the real first requests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_FAMILIES = {"mini_program_api.db", "mini_program_api.db.schema", "mini_program_api.db.transact"}
# What db/models.py may define: every path loads it.
CORE = {
    "Item",
    "RosterIndex",
    "Tier",
    "TopupPlan",
    "MemberDay",
    "PaySettings",
    "Merchant",
    "Lookup",
    "CardholderIndex",
    "Member",
    "LedgerByTime",
    "Scheduled",
    "DueIndex",
}
# path -> (the modules its first request imports, the families it may load, the classes it may build beyond CORE)
PATHS: dict[str, tuple[tuple[str, ...], set[str], set[str]]] = {
    "login": (("mini_program_api.members.login", "mini_program_api.platform.auth"), set(), set()),
    "me": (
        (
            "mini_program_api.platform.auth",
            "mini_program_api.members.members",
            "mini_program_api.merchants.merchants",
            "mini_program_api.coupons.held",
        ),
        {"coupons"},
        {"CouponTerms", "Coupon"},
    ),
    "checkout": (
        ("mini_program_api.platform.auth", "mini_program_api.staff.accounts", "mini_program_api.till.checkout"),
        {"coupons", "counters", "due", "ledger", "orders", "spending", "staff"},
        {
            "CouponTerms",
            "Coupon",
            "Counter",
            "DueMarker",
            "LedgerEntry",
            "OperationRecord",
            "CheckoutOrder",
            "OrderRef",
            "SpendingPassword",
            "PendingPayment",
            "Store",
            "StaffAccount",
            "AuditRecord",
        },
    ),
    "notify": (
        ("mini_program_api.topup.notify",),
        {"due", "ledger", "topups"},
        {"DueMarker", "LedgerEntry", "OperationRecord", "TopupOrder"},
    ),
}
_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
loaded = {name: mod for name, mod in sys.modules.items() if name.startswith("mini_program_api.db")}
print(json.dumps({
    name: sorted(k for k, v in vars(mod).items() if isinstance(v, type) and v.__module__ == name and k[0] != "_")
    for name, mod in loaded.items()
}))
"""


@cache
def _families(path: str) -> dict[str, list[str]]:
    """The model families a fresh interpreter holds after the path's imports (`models` included), with the classes
    each defines."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *PATHS[path][0]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded: dict[str, list[str]] = json.loads(out.stdout)
    return {
        name.removeprefix("mini_program_api.db."): classes
        for name, classes in loaded.items()
        if name not in NOT_FAMILIES
    }


@pytest.mark.parametrize("path", list(PATHS))
def test_a_hot_path_loads_only_the_model_families_it_uses(path: str) -> None:
    loaded = _families(path)
    assert "models" in loaded  # the probe did import the path's modules
    allowed = PATHS[path][1] | {"models"}
    assert {name: classes for name, classes in loaded.items() if name not in allowed} == {}, (
        f"{path} loads model families it does not use"
    )


@pytest.mark.parametrize("path", list(PATHS))
def test_a_hot_path_builds_only_the_model_classes_it_uses(path: str) -> None:
    """The login builds 13 classes (the merchant with its maps, the lookup, the member, their indexes and mixins),
    not the table's 44: no coupon, ledger entry, order, staff account or job."""
    allowed = CORE | PATHS[path][2]
    built = {cls: name for name, classes in _families(path).items() for cls in classes}
    assert {cls: name for cls, name in built.items() if cls not in allowed} == {}, (
        f"{path} builds model classes it does not use"
    )


# Model modules a capability keeps beside its code (webhooks/, wallet/, reports/): the notify's credit writes the 卡包
# sync mark and the report counters, and a webhook event only for a merchant with an endpoint (webhooks/outbox.py
# imports the webhook models where it writes one), so its imports build none of the five webhook classes.
_OTHER_MODELS = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("mini_program_api.") and m.endswith(".models"))))
"""


def test_the_notify_builds_no_webhook_model() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _OTHER_MODELS, "mini_program_api.topup.notify"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    others = [m for m in json.loads(out.stdout) if m != "mini_program_api.db.models"]
    assert others == ["mini_program_api.reports.models", "mini_program_api.wallet.models"]
