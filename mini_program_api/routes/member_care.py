"""Find and help a member (role admin): search, the member's view with every list paged, and manual
adjustments with a reason. Thin: the rules are in member_care/ and the services it calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.routes.accounts import audit_page
from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import (
    coupon_view,
    entry_view,
    member_view,
    punch_card_view,
    receipt_page,
    tier_view,
    topup_page,
)

if TYPE_CHECKING:  # annotations only: models and domain modules load on first use (endpoint.py)
    from mini_program_api.db.models import Member, Merchant
    from mini_program_api.routes.schemas import (
        AdjustmentBody,
        AdminLedgerQuery,
        CouponsQuery,
        FreezeBody,
        IssueCouponBody,
        MemberJobBody,
        MemberNameBody,
        MemberSearchQuery,
        PunchVisitsBody,
        TagBody,
        TagBulkBody,
    )

bp = Blueprint(__name__)


def admin_member_view(merchant: Merchant, member: Member) -> dict[str, Any]:
    from mini_program_api.coupons import held
    from mini_program_api.member_care import tags

    return {
        **member_view(merchant, member),
        "coupon_count": held.available_count(merchant.merchant_id, member.member_id),
        "created_at": clock.iso(member.created_at, merchant.timezone),
        "tags": tags.names(merchant.merchant_id, member.tag_ids),
    }


def _summary(merchant: Merchant, member: Member, tag_names: dict[str, str]) -> dict[str, Any]:
    from mini_program_api.platform import pii

    return {
        "member_id": member.member_id,
        "card_number": member.card_number,
        "name": member.name,
        "phone": pii.shown_phone(member.phone_enc, member.phone_masked),
        "tier": tier_view(_tier(merchant, member)),
        "points": int(member.points),
        "balance": int(member.principal) + int(member.bonus),
        "tags": sorted(
            ({"tag_id": t, "name": tag_names[t]} for t in member.tag_ids or () if t in tag_names),
            key=lambda t: (t["name"], t["tag_id"]),
        ),
        "frozen": member.frozen_at is not None,
    }


def _summaries(merchant: Merchant, found: list[Member]) -> list[dict[str, Any]]:
    from mini_program_api.member_care import tags

    wanted = set().union(*(m.tag_ids or set() for m in found)) if found else set()
    tag_names = {t["tag_id"]: t["name"] for t in tags.names(merchant.merchant_id, wanted)}
    return [_summary(merchant, m, tag_names) for m in found]


def _tier(merchant: Merchant, member: Member) -> Any:
    from mini_program_api.members import tiers

    return tiers.current(merchant, member.tier_id)


def _member(call: Call, member_id: str) -> Member:
    """The merchant's member (another merchant's id is simply not found in this merchant's partitions)."""
    from mini_program_api.members import members

    return members.get(call.caller.merchant_id, member_id)


@endpoint(
    bp,
    "/v1/admin/members",
    "GET",
    role="admin",
    query="MemberSearchQuery",
    response="MemberSearchView",
    errors=("NOT_FOUND", "TAG_NOT_FOUND"),
)
def find(call: Call) -> dict[str, Any]:
    """One member by a key, or a paged list by the beginning of a name and/or a tag, or of every cardholder."""
    from mini_program_api.member_care import search
    from mini_program_api.merchants import merchants

    q: MemberSearchQuery = call.query
    merchant = merchants.get(call.caller.merchant_id)
    keys = (q.phone, q.card_number, q.member_code, q.member_id)
    if all(k is None for k in keys):
        page = search.listing(call.caller.merchant_id, q.name, q.tag_id, q.cursor, q.limit)
        return {"members": _summaries(merchant, page.items), "cursor": page.cursor}
    if q.name is not None or q.tag_id is not None or q.cursor is not None:
        raise KabaoError("VALIDATION_ERROR", "search by one key, or list by name and/or tag_id")
    found = search.find(
        call.caller.merchant_id,
        phone=q.phone,
        card_number=q.card_number,
        member_code=q.member_code,
        member_id=q.member_id,
    )
    return {"members": _summaries(merchant, [found] if found else []), "cursor": None}


@endpoint(
    bp, "/v1/admin/members/{member_id}", "GET", role="admin", response="AdminMemberView", errors=("MEMBER_NOT_FOUND",)
)
def view(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.merchants import merchants

    return admin_member_view(merchants.get(call.caller.merchant_id), _member(call, member_id))


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/ledger",
    "GET",
    role="admin",
    query="AdminLedgerQuery",
    response="LedgerPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_ledger(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.money import ledger

    q: AdminLedgerQuery = call.query
    _member(call, member_id)
    page = ledger.history(call.caller.merchant_id, member_id, q.account, q.cursor, q.limit)
    return {"entries": [entry_view(e, call.timezone) for e in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/coupons",
    "GET",
    role="admin",
    query="CouponsQuery",
    response="CouponPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_coupons(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.coupons import held

    q: CouponsQuery = call.query
    _member(call, member_id)
    page = held.mine(call.caller.merchant_id, member_id, q.status, q.cursor, q.limit)
    return {"coupons": [coupon_view(c, call.timezone) for c in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/punch-cards",
    "GET",
    role="admin",
    query="PageQuery",
    response="PunchCardPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_punch_cards(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.till import punch_cards

    _member(call, member_id)
    page = punch_cards.mine(call.caller.merchant_id, member_id, call.query.cursor, call.query.limit)
    return {"punch_cards": [punch_card_view(c, call.timezone) for c in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/orders",
    "GET",
    role="admin",
    query="PageQuery",
    response="ReceiptPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_orders(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.members import order_refs

    _member(call, member_id)
    page = order_refs.checkouts(call.caller.merchant_id, member_id, call.query.cursor, call.query.limit)
    return receipt_page(page, call.timezone)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/topups",
    "GET",
    role="admin",
    query="PageQuery",
    response="TopupPage",
    errors=("MEMBER_NOT_FOUND",),
)
def member_topups(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.members import order_refs

    _member(call, member_id)
    page = order_refs.topups(call.caller.merchant_id, member_id, call.query.cursor, call.query.limit)
    return topup_page(page, call.timezone)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/audit",
    "GET",
    role="admin",
    query="PageQuery",
    response="AuditDayView",
    errors=("MEMBER_NOT_FOUND",),
)
def member_audit(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.staff import audit

    _member(call, member_id)
    return audit_page(
        audit.about_member(call.caller.merchant_id, member_id, call.query.cursor, call.query.limit), call.timezone
    )


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/adjustments",
    "POST",
    role="admin",
    body="AdjustmentBody",
    response="AdjustmentView",
    idempotent=True,
    errors=(
        "CARD_NOT_OPEN",
        "INSUFFICIENT_BALANCE",
        "INSUFFICIENT_GROWTH",
        "INSUFFICIENT_POINTS",
        "MEMBER_NOT_FOUND",
        "PUNCH_CARD_NOT_FOUND",
    ),
)
def adjust(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import adjustments
    from mini_program_api.merchants import merchants

    body: AdjustmentBody = call.body
    done = adjustments.adjust(call.caller, member_id, body.account, body.amount, body.reason, call.idempotency_key)
    posted = done.posted
    merchant = merchants.get(call.caller.merchant_id)
    return {
        "adjustment_id": posted.op_key,
        "account": body.account,
        "amount": sum(posted.amounts.values()),
        "reason": done.reason,
        "replayed": posted.replayed,
        "member": admin_member_view(merchant, _member(call, member_id)),
    }


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/coupons",
    "POST",
    role="admin",
    body="IssueCouponBody",
    status=201,
    response="CouponView",
    idempotent=True,
    errors=(
        "CARD_NOT_OPEN",
        "CLAIM_LIMIT_REACHED",
        "COUPON_NOT_FOUND",
        "MEMBER_NOT_FOUND",
        "OFFER_NOT_AVAILABLE",
        "PUNCH_CARD_NOT_FOUND",
        "SOLD_OUT",
        "TEMPLATE_NOT_FOUND",
        "TIER_NOT_ELIGIBLE",
    ),
)
def issue_coupon(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import adjustments

    body: IssueCouponBody = call.body
    coupon = adjustments.issue_coupon(call.caller, member_id, body.template_id, body.reason, call.idempotency_key)
    return coupon_view(coupon, call.timezone)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/punch-cards/{card_id}/visits",
    "POST",
    role="admin",
    body="PunchVisitsBody",
    response="PunchCardView",
    idempotent=True,
    errors=("MEMBER_NOT_FOUND", "PUNCH_CARD_NOT_FOUND", "PUNCH_CARD_EXPIRED"),
)
def give_visits(call: Call, member_id: str, card_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import adjustments

    body: PunchVisitsBody = call.body
    card = adjustments.give_visits(call.caller, member_id, card_id, body.visits, body.reason, call.idempotency_key)
    return punch_card_view(card, call.timezone)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/freeze",
    "POST",
    role="admin",
    body="FreezeBody",
    response="AdminMemberView",
    errors=("MEMBER_ALREADY_FROZEN", "MEMBER_NOT_FOUND"),
)
def freeze_member(call: Call, member_id: str) -> dict[str, Any]:
    """Freeze the member's points and stored value: nothing spends them until unfrozen (top-ups and refunds
    still go through); the member sees the reason."""
    from mini_program_api.member_care import freeze
    from mini_program_api.merchants import merchants

    body: FreezeBody = call.body
    member = freeze.freeze(call.caller, member_id, body.reason)
    return admin_member_view(merchants.get(call.caller.merchant_id), member)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/unfreeze",
    "POST",
    role="admin",
    body="FreezeBody",
    response="AdminMemberView",
    errors=("MEMBER_NOT_FOUND", "MEMBER_NOT_FROZEN"),
)
def unfreeze_member(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import freeze
    from mini_program_api.merchants import merchants

    body: FreezeBody = call.body
    member = freeze.unfreeze(call.caller, member_id, body.reason)
    return admin_member_view(merchants.get(call.caller.merchant_id), member)


@endpoint(
    bp,
    "/v1/staff/members/{member_id}/freeze",
    "POST",
    role="staff",
    body="FreezeBody",
    response="FreezeView",
    errors=("MEMBER_ALREADY_FROZEN", "MEMBER_NOT_FOUND"),
)
def staff_freeze_member(call: Call, member_id: str) -> dict[str, Any]:
    """Staff freeze a member (the id from the scanned member) when the merchant's `staff_may_freeze` is on."""
    from mini_program_api.member_care import freeze
    from mini_program_api.routes.views import frozen_view

    body: FreezeBody = call.body
    member = freeze.freeze(call.caller, member_id, body.reason)
    return {"member_id": member.member_id, "frozen": frozen_view(member, call.timezone)}


@endpoint(
    bp,
    "/v1/staff/members/{member_id}/unfreeze",
    "POST",
    role="staff",
    body="FreezeBody",
    response="FreezeView",
    errors=("MEMBER_NOT_FOUND", "MEMBER_NOT_FROZEN"),
)
def staff_unfreeze_member(call: Call, member_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import freeze
    from mini_program_api.routes.views import frozen_view

    body: FreezeBody = call.body
    member = freeze.unfreeze(call.caller, member_id, body.reason)
    return {"member_id": member.member_id, "frozen": frozen_view(member, call.timezone)}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/name",
    "PUT",
    role="admin",
    body="MemberNameBody",
    response="AdminMemberView",
    errors=("MEMBER_NOT_FOUND",),
)
def set_member_name(call: Call, member_id: str) -> dict[str, Any]:
    """Correct the member's name (audited; the name search follows at once)."""
    from mini_program_api.member_care import profile
    from mini_program_api.merchants import merchants

    body: MemberNameBody = call.body
    member = profile.set_name(call.caller, member_id, body.name, body.reason)
    return admin_member_view(merchants.get(call.caller.merchant_id), member)


# --- tags ------------------------------------------------------------------------------------------------


def _tag_view(tag: Any, tz: str) -> dict[str, Any]:
    return {
        "tag_id": tag.sk,
        "name": tag.name,
        "members": int(tag.members),
        "created_at": clock.iso(tag.created_at, tz),
    }


@endpoint(bp, "/v1/admin/tags", "GET", role="admin", query="PageQuery", response="TagPage")
def list_tags(call: Call) -> dict[str, Any]:
    """The merchant's tags with how many members carry each, paged."""
    from mini_program_api.member_care import tags

    page = tags.page(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"tags": [_tag_view(t, call.timezone) for t in page.items], "cursor": page.cursor}


@endpoint(
    bp,
    "/v1/admin/tags",
    "POST",
    role="admin",
    body="TagBody",
    status=201,
    response="TagView",
    errors=("NOT_FOUND", "TAG_NAME_TAKEN"),
)
def create_tag(call: Call) -> dict[str, Any]:
    from mini_program_api.member_care import tags

    body: TagBody = call.body
    return _tag_view(tags.create(call.caller, body.name), call.timezone)


@endpoint(bp, "/v1/admin/tags/{tag_id}", "GET", role="admin", response="TagView", errors=("TAG_NOT_FOUND",))
def get_tag(call: Call, tag_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import tags

    return _tag_view(tags.get(call.caller.merchant_id, tag_id), call.timezone)


@endpoint(
    bp,
    "/v1/admin/tags/{tag_id}",
    "PATCH",
    role="admin",
    body="TagBody",
    response="TagView",
    errors=("TAG_NAME_TAKEN", "TAG_NOT_FOUND"),
)
def rename_tag(call: Call, tag_id: str) -> dict[str, Any]:
    """Rename a tag: its members keep it (they carry its id)."""
    from mini_program_api.member_care import tags

    body: TagBody = call.body
    return _tag_view(tags.rename(call.caller, tag_id, body.name), call.timezone)


@endpoint(bp, "/v1/admin/tags/{tag_id}", "DELETE", role="admin", status=204, errors=("TAG_IN_USE", "TAG_NOT_FOUND"))
def delete_tag(call: Call, tag_id: str) -> None:
    """Delete a tag no member carries (409 TAG_IN_USE otherwise: take it off its members first)."""
    from mini_program_api.member_care import tags

    tags.delete(call.caller, tag_id)


@endpoint(
    bp,
    "/v1/admin/tags/{tag_id}/members",
    "POST",
    role="admin",
    body="TagBulkBody",
    response="TagBulkView",
    errors=("MEMBER_NOT_FOUND", "TAG_NOT_FOUND"),
)
def bulk_tag(call: Call, tag_id: str) -> dict[str, Any]:
    """Put the tag on (or take it off) up to 100 listed members; for a filter's members, a member job."""
    from mini_program_api.member_care import tags

    body: TagBulkBody = call.body
    done = tags.bulk(call.caller, tag_id, body.member_ids, body.action == "add")
    return {"changed": done.changed, "unchanged": done.unchanged, "not_found": done.not_found}


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/tags/{tag_id}",
    "PUT",
    role="admin",
    response="AdminMemberView",
    errors=("MEMBER_NOT_FOUND", "TAG_NOT_FOUND"),
)
def tag_member(call: Call, member_id: str, tag_id: str) -> dict[str, Any]:
    """Put the tag on the member (again: no change)."""
    from mini_program_api.member_care import tags
    from mini_program_api.merchants import merchants

    member = tags.tag_member(call.caller, member_id, tag_id, True)
    return admin_member_view(merchants.get(call.caller.merchant_id), member)


@endpoint(
    bp,
    "/v1/admin/members/{member_id}/tags/{tag_id}",
    "DELETE",
    role="admin",
    response="AdminMemberView",
    errors=("MEMBER_NOT_FOUND", "TAG_NOT_FOUND"),
)
def untag_member(call: Call, member_id: str, tag_id: str) -> dict[str, Any]:
    """Take the tag off the member (not on it: no change)."""
    from mini_program_api.member_care import tags
    from mini_program_api.merchants import merchants

    member = tags.tag_member(call.caller, member_id, tag_id, False)
    return admin_member_view(merchants.get(call.caller.merchant_id), member)


# --- jobs over a filter's members: tag, untag, export --------------------------------------------------------


def _member_job_view(job: Any, tz: str) -> dict[str, Any]:
    params = job.params.as_dict() if hasattr(job.params, "as_dict") else dict(job.params or {})
    export = job.kind == "EXPORT"
    done = export and job.status == "DONE" and bool(job.file_key)
    return {
        "job_id": job.job_id,
        "kind": job.kind,
        "status": job.status,
        "error": job.error,
        "filter": job.filter.as_dict() if hasattr(job.filter, "as_dict") else dict(job.filter or {}),
        "tag_id": None if export else params.get("tag_id"),
        "format": params.get("format") if export else None,
        "unmasked": bool(params.get("unmasked")) if export else None,
        "scanned": int(job.scanned),
        "matched": int(job.matched),
        "changed": int(job.changed),
        "download_url": f"/v1/admin/member-jobs/{job.job_id}/file" if done else None,
        "created_at": clock.iso(job.created_at, tz),
        "finished_at": clock.iso(job.finished_at, tz) if job.finished_at else None,
    }


@endpoint(
    bp,
    "/v1/admin/member-jobs",
    "POST",
    role="admin",
    body="MemberJobBody",
    status=201,
    response="MemberJobView",
    idempotent=True,
    errors=("NOT_FOUND", "TAG_NOT_FOUND"),
)
def create_member_job(call: Call) -> dict[str, Any]:
    """Tag, untag or export (CSV or XLSX, phones masked unless `unmasked`: audited) a filter's members, as a job
    the member_jobs_run function works through; GET it for its progress and, once DONE, its file."""
    from mini_program_api.coupons import issue_jobs
    from mini_program_api.member_care import member_jobs

    body: MemberJobBody = call.body
    f = body.filter
    where = member_jobs.Where(
        issue_jobs.Filter(
            tier_ids=tuple(f.tier_ids), dormant=f.dormant, birthday_month=f.birthday_month, tag_ids=tuple(f.tag_ids)
        ),
        body.name,
    )
    params = {"tag_id": body.tag_id, "format": body.format, "unmasked": body.unmasked}
    job = member_jobs.create(call.caller, body.kind, where, params, call.idempotency_key)
    return _member_job_view(job, call.timezone)


@endpoint(bp, "/v1/admin/member-jobs", "GET", role="admin", query="PageQuery", response="MemberJobPage")
def list_member_jobs(call: Call) -> dict[str, Any]:
    from mini_program_api.member_care import member_jobs

    page = member_jobs.page(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"jobs": [_member_job_view(j, call.timezone) for j in page.items], "cursor": page.cursor}


@endpoint(bp, "/v1/admin/member-jobs/{job_id}", "GET", role="admin", response="MemberJobView")
def get_member_job(call: Call, job_id: str) -> dict[str, Any]:
    from mini_program_api.member_care import member_jobs

    return _member_job_view(member_jobs.get(call.caller.merchant_id, job_id), call.timezone)


@endpoint(
    bp,
    "/v1/admin/member-jobs/{job_id}/file",
    "GET",
    role="admin",
    response="FileView",
    errors=("EXPORT_NOT_FOUND", "EXPORT_NOT_READY"),
)
def download_member_export(call: Call, job_id: str) -> Any:
    """A finished export's file (audited): served here on the local stack, a redirect to a short-lived S3 link in
    the cloud."""
    from chalice import Response

    from mini_program_api.member_care import member_jobs

    got = member_jobs.download(call.caller, job_id)
    if got.link is not None:
        return Response(body="", status_code=302, headers={"Location": got.link, "Cache-Control": "no-store"})
    disposition = f'attachment; filename="{got.name}"'
    binary = not got.content_type.startswith("text/")
    return Response(
        body=got.data if binary else (got.data or b"").decode("utf-8"),
        status_code=200,
        headers={
            "Content-Type": "application/octet-stream" if binary else got.content_type,
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
        },
    )
