"""The member's own data (PIPL): their export and account deletion, and the admin's view of consents and deletion
on the member's request. Thin: the rules are in data_rights/ and members/consents.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform import clock
from mini_program_api.routes.endpoint import Call, endpoint

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.data_rights.erasure import Erased
    from mini_program_api.routes.schemas import DataExportQuery, PageQuery

bp = Blueprint(__name__)


def _erased_view(erased: Erased, tz: str) -> dict[str, Any]:
    return {
        "member_id": erased.member_id,
        "deleted": True,
        "erased_at": clock.iso(erased.erased_at, tz),
        "points_forfeited": erased.points_forfeited,
        "coupons_forfeited": erased.coupons_forfeited,
        "punch_visits_forfeited": erased.punch_visits_forfeited,
    }


@endpoint(
    bp,
    "/v1/me/data-export",
    "GET",
    role="member",
    query="DataExportQuery",
    response="DataExportView",
    errors=("MEMBER_NOT_FOUND",),
)
def data_export(call: Call) -> dict[str, Any]:
    """Everything kabao holds about the member, one page per section (see data_rights/export.py)."""
    from mini_program_api.data_rights import export

    q: DataExportQuery = call.query
    return export.page(call.caller.merchant_id, call.caller.subject, call.timezone, q.section, q.cursor, q.limit)


@endpoint(
    bp,
    "/v1/me/delete-account",
    "POST",
    role="member",
    response="ErasureView",
    errors=("MEMBER_FROZEN", "MEMBER_NOT_FOUND", "NOT_FOUND", "PUNCH_CARD_NOT_FOUND", "STORED_VALUE_REMAINS"),
)
def delete_account(call: Call) -> dict[str, Any]:
    """Erase the member's personal data; refused while stored value remains (data_rights/erasure.py). The
    member's token works for this call only once it succeeded, so a retry answers the same."""
    from mini_program_api.data_rights import erasure

    erased = erasure.erase(call.caller.merchant_id, call.caller.subject, call.caller)
    return _erased_view(erased, call.timezone)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/delete-account",
    "POST",
    role="admin",
    body="ErasureBody",
    response="ErasureView",
    errors=("MEMBER_FROZEN", "MEMBER_NOT_FOUND", "PUNCH_CARD_NOT_FOUND", "STORED_VALUE_REMAINS"),
)
def admin_delete_account(call: Call, member_id: str) -> dict[str, Any]:
    """The member's deletion, done by an admin on the member's request: audited with its reason."""
    from mini_program_api.data_rights import erasure

    erased = erasure.erase(call.caller.merchant_id, member_id, call.caller, call.body.reason)
    return _erased_view(erased, call.timezone)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/consents",
    "GET",
    role="admin",
    query="PageQuery",
    response="ConsentsPage",
    errors=("MEMBER_NOT_FOUND",),
)
def admin_consents(call: Call, member_id: str) -> dict[str, Any]:
    """The member's consent records (terms agreed, subscribe-message answers), newest first."""
    from mini_program_api.members import consents, members

    q: PageQuery = call.query
    members.get(call.caller.merchant_id, member_id)  # another merchant's member: 404
    got = consents.page(call.caller.merchant_id, member_id, q.cursor, q.limit)
    tz = call.timezone
    return {
        "consents": [
            {
                "kind": c.kind,
                "terms_version": c.terms_version,
                "template_id": c.template_id,
                "decision": c.decision,
                "at": clock.iso(c.at, tz),
            }
            for c in got.items
        ],
        "cursor": got.cursor,
    }
