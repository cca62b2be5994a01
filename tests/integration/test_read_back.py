"""Issue 23, item 9: what an admin reads back is what they can write again.

Every admin configuration with a GET and a PUT or PATCH is read, written back unchanged, and read again: the
write is accepted and nothing changes. GET /v1/admin/tiers named a tier's id `id` while PUT wants `tier_id`,
so a console could not save the tiers it had just shown. Where the GET also shows state the write does not
take (a template's stock, the wallet card's review), the write gets the GET's values of the fields it takes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tests import timeline
from tests.integration.test_admin_ops import CASH, WINDOW
from tests.wallet_helpers import setup_wallet


@dataclass(frozen=True)
class Pair:
    read: str  # GET path, as declared
    method: str  # the write's method
    write: str  # its path, as declared
    body: str  # its model in routes/schemas.py
    whole: bool  # the GET's answer is the write's body as it stands, not only a part of it


PAIRS = [
    Pair("/v1/admin/tiers", "PUT", "/v1/admin/tiers", "TiersBody", True),
    Pair("/v1/admin/settings", "PATCH", "/v1/admin/settings", "SettingsBody", True),
    Pair("/v1/admin/member-days", "PUT", "/v1/admin/member-days", "MemberDaysBody", True),
    Pair("/v1/admin/reports/rfm-thresholds", "PUT", "/v1/admin/reports/rfm-thresholds", "ThresholdsBody", True),
    Pair("/v1/admin/wallet/card", "PUT", "/v1/admin/wallet/card", "WalletCardBody", False),
    Pair("/v1/admin/stores/{store_id}", "PATCH", "/v1/admin/stores/{store_id}", "StorePatchBody", False),
    Pair(
        "/v1/admin/coupon-templates/{template_id}",
        "PATCH",
        "/v1/admin/coupon-templates/{template_id}",
        "TemplatePatchBody",
        False,
    ),
    Pair("/v1/admin/tags/{tag_id}", "PATCH", "/v1/admin/tags/{tag_id}", "TagBody", False),
    Pair(
        "/v1/admin/webhooks/endpoints/{endpoint_id}",
        "PATCH",
        "/v1/admin/webhooks/endpoints/{endpoint_id}",
        "WebhookEndpointPatch",
        False,
    ),
]
PLAN_EDIT = ("PATCH", "/v1/admin/topup-plans/{plan_id}")  # the plans are listed whole and edited one by one
# A member-import file's bytes (the local store's stand-in for S3's presigned PUT): read back as the import that
# names it and its rows (tests/integration/test_member_import.py), not as the bytes.
IMPORT_UPLOAD = ("PUT", "/v1/admin/member-imports/uploads/{upload_id}")
# Actions on one member, not configuration: read back in GET /v1/admin/members/{member_id} (`tags`, `card.name`),
# which tests/integration/test_tags_and_names.py checks after each.
MEMBER_EDITS = {("PUT", "/v1/admin/members/{member_id}/tags/{tag_id}"), ("PUT", "/v1/admin/members/{member_id}/name")}


def test_every_admin_write_has_its_read_back_pair() -> None:
    from app import app  # noqa: F401 - declares the routes
    from mini_program_api.routes import endpoint

    writes = {(r.method, r.path) for r in endpoint.ROUTES if r.method in ("PUT", "PATCH") and "admin" in r.role}
    assert writes == {(p.method, p.write) for p in PAIRS} | {PLAN_EDIT, IMPORT_UPLOAD} | MEMBER_EDITS
    reads = {r.path for r in endpoint.ROUTES if r.method == "GET"}
    assert {p.read for p in PAIRS} <= reads


def _configured(api: Any, sandbox: Any, stack: Any, merchant: Any, admin: str) -> dict[str, str]:
    """A merchant with something set in each configuration, so every round trip carries values."""
    today = timeline.today()
    days = [
        {
            "day_id": "mon",
            "name": "周一",
            "multiplier": 200,
            "weekdays": [1, 3],
            "tier_ids": ["silver"],
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=60)).isoformat(),
        },
        {"day_id": "d", "name": "店庆", "multiplier": 300, "dates": [(today + timedelta(days=9)).isoformat()]},
    ]
    assert api.put("/v1/admin/member-days", {"member_days": days}, token=admin)[0] == 200
    rfm = {"r": [30, 60, 90, 180], "f": None, "m": [1000, 5000, 10000, 50000]}
    assert api.put("/v1/admin/reports/rfm-thresholds", rfm, token=admin)[0] == 200
    status, body = api.patch(
        "/v1/admin/settings",
        {"message_templates": {"birthday": "tmpl-b"}, "dormant_days": 60, "welcome_template_ids": []},
        token=admin,
    )
    assert status == 200, body
    setup_wallet(api, sandbox, stack, merchant)
    assert api.post("/v1/admin/stores", {"store_id": "s9", "name": "九号店"}, token=admin)[0] == 201
    status, template = api.post(
        "/v1/admin/coupon-templates", {**CASH, **WINDOW}, token=admin, headers={"idempotency-key": uuid.uuid4().hex}
    )
    assert status == 201, template
    status, tag = api.post("/v1/admin/tags", {"name": "常客"}, token=admin)
    assert status == 201, tag
    status, hook = api.post(
        "/v1/admin/webhooks/endpoints",
        {"url": "http://127.0.0.1:9/kabao", "events": ["member.created", "checkout.completed"], "description": "ERP"},
        token=admin,
    )
    assert status == 201, hook
    return {
        "template_id": template["template_id"],
        "store_id": "s9",
        "tag_id": tag["tag_id"],
        "endpoint_id": hook["endpoint_id"],
    }


def test_every_admin_configuration_read_back_can_be_written_back_unchanged(
    api: Any, sandbox: Any, stack: Any, merchant: Any
) -> None:
    from mini_program_api.routes.endpoint import model

    admin = api.admin_token(merchant)
    ids = _configured(api, sandbox, stack, merchant, admin)
    for pair in PAIRS:
        read, write = pair.read.format(**ids), pair.write.format(**ids)
        status, before = api.get(read, token=admin)
        assert status == 200, (read, before)
        fields = set(model(pair.body).model_fields)
        if pair.whole:
            sent = before
        else:
            assert fields <= set(before), (read, fields - set(before))  # each field written is read back
            sent = {k: before[k] for k in fields}
        status, written = api.call(pair.method, write, sent, token=admin)
        assert status == 200, (pair.method, write, written)
        assert api.get(read, token=admin) == (200, before), read
    _plans(api, admin)


def _plans(api: Any, admin: str) -> None:
    """Top-up plans are listed whole and edited one by one: each as read (less its id) is a PATCH."""
    status, before = api.get("/v1/admin/topup-plans", token=admin)
    assert status == 200 and before["plans"], before
    for plan in before["plans"]:
        body = {k: v for k, v in plan.items() if k != "plan_id"}
        assert api.patch(f"/v1/admin/topup-plans/{plan['plan_id']}", body, token=admin)[0] == 200
    assert api.get("/v1/admin/topup-plans", token=admin) == (200, before)
