"""What the mini program reads back for the member (role member): their receipts and top-ups, the
merchant's stores and the subscribe-message template ids per notice kind (so none is hard-coded)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from mini_program_api.routes.endpoint import Call, endpoint
from mini_program_api.routes.views import receipt_page, store_view, topup_page

bp = Blueprint(__name__)


@endpoint(bp, "/v1/me/orders", "GET", role="member", query="PageQuery", response="ReceiptPage")
def my_orders(call: Call) -> dict[str, Any]:
    """Counter receipts, newest first; refunded ones show their refund."""
    from mini_program_api.members import order_refs

    page = order_refs.checkouts(call.caller.merchant_id, call.caller.subject, call.query.cursor, call.query.limit)
    return receipt_page(page, call.timezone)


@endpoint(bp, "/v1/me/topups", "GET", role="member", query="PageQuery", response="TopupPage")
def my_topups(call: Call) -> dict[str, Any]:
    from mini_program_api.members import order_refs

    page = order_refs.topups(call.caller.merchant_id, call.caller.subject, call.query.cursor, call.query.limit)
    return topup_page(page, call.timezone)


@endpoint(bp, "/v1/stores", "GET", role="member", query="PageQuery", response="StorePage")
def stores(call: Call) -> dict[str, Any]:
    """Open stores (closed ones are left out, so a page may be short; follow the cursor)."""
    from mini_program_api.staff import stores

    page = stores.open_stores(call.caller.merchant_id, call.query.cursor, call.query.limit)
    return {"stores": [store_view(s, call.timezone) for s in page.items], "cursor": page.cursor}


@endpoint(bp, "/v1/message-templates", "GET", role="member", response="MessageTemplatesView", errors=("NOT_FOUND",))
def message_templates(call: Call) -> dict[str, Any]:
    from mini_program_api.merchants import merchants

    templates = merchants.get(call.caller.merchant_id).message_templates
    return {"templates": templates.as_dict() if templates else {}}
