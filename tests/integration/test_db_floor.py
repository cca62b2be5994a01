"""The DynamoDB floor of the hot member paths: how many reads come before a value-moving transaction.

A claim reads its template (once per container and templates.CACHE_SECONDS) and, when a member may hold more
than one, their count of it, and nothing else before its one TransactWriteItems (the member's card and tier
are conditions in it, the stock shard a guess); sign-in reads the member once. Every member call also reads one
the member behind its token (`members.require_not_erased`: an erased member's token is refused), hence `1 + AUTH`
below; `GET /v1/me` shows that row, so it reads the member once in all. A listing queries the offers' shelf once
per container and shelf.CACHE_SECONDS. Counted with the db_calls spy against DynamoDB Local: a change that adds
a read fails here, not in a bench nobody runs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from mini_program_api.coupons import shelf, stock
from mini_program_api.db.coupon_templates import CouponTemplate, shelf_pk, template_pk
from mini_program_api.db.coupons import Coupon
from mini_program_api.db.models import PROFILE, Member, member_pk
from tests import timeline
from tests.db_calls import WRITES, Calls, record

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
AUTH = 1  # the token's member, read to refuse an erased member's token on every member call (routes/endpoint.py)
CASH = {"name": "5元", "kind": "CASH", "amount": 500, "total_stock": 1000, "per_member_limit": 1, "days_after_claim": 3}


def _template(api: Any, merchant: Any, **over: Any) -> str:
    status, body = api.post("/v1/admin/coupon-templates", {**CASH, **over}, token=api.admin_token(merchant))
    assert status == 201, body
    return body["template_id"]


def _claim(api: Any, token: str, template_id: str, key: str | None = None) -> tuple[int, Any]:
    return api.post(
        f"/v1/coupons/offers/{template_id}/claim", token=token, headers={"idempotency-key": key or uuid.uuid4().hex}
    )


def _shape(calls: Calls) -> tuple[int, list[str]]:
    """(reads before the first write, the writes)."""
    names = [c[0] for c in calls.calls]
    first = next((i for i, n in enumerate(names) if n in WRITES), len(names))
    return sum(1 for n in names[:first] if n in READS), [n for n in names if n in WRITES]


def _held(merchant: Any, member_id: str) -> int:
    return len(
        list(
            Coupon.query(
                member_pk(merchant.merchant_id, member_id), Coupon.sk.startswith("COUPON#"), consistent_read=True
            )
        )
    )


def _stock_left(merchant: Any, template_id: str) -> int:
    return stock.remaining_stock(
        merchant.merchant_id, CouponTemplate.get(template_pk(merchant.merchant_id), template_id)
    )


def test_a_claim_reads_once_before_its_one_transaction(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    template_id = _template(api, merchant)
    member = api.member_with_card(merchant)
    calls = record(monkeypatch)
    key = uuid.uuid4().hex
    status, coupon = _claim(api, member["token"], template_id, key)
    assert status == 200, coupon
    assert _shape(calls) == (1 + AUTH, ["TransactWriteItems"])
    calls.clear()
    assert _claim(api, member["token"], template_id, key) == (200, coupon)  # the retry: same coupon
    assert _stock_left(merchant, template_id) == 999 and _held(merchant, member["member"]["member_id"]) == 1


def test_tier_and_card_are_checked_in_the_transaction(api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gold_only = _template(api, merchant, tier_ids=["gold"])
    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    status, body = _claim(api, member["token"], gold_only)
    assert (status, body["error"]["code"]) == (403, "TIER_NOT_ELIGIBLE")
    no_card = api.login(merchant)
    status, body = _claim(api, no_card["token"], gold_only)
    assert (status, body["error"]["code"]) == (409, "CARD_NOT_OPEN")
    assert _stock_left(merchant, gold_only) == 1000 and _held(merchant, member_id) == 0  # refusals change nothing

    Member(member_pk(merchant.merchant_id, member_id), PROFILE).update(actions=[Member.tier_id.set("gold")])
    calls = record(monkeypatch)
    status, coupon = _claim(api, member["token"], gold_only)
    assert status == 200, coupon
    # no read: the template is this container's copy since the refusals above (templates.CACHE_SECONDS)
    assert _shape(calls) == (AUTH, ["TransactWriteItems"])
    assert _stock_left(merchant, gold_only) == 999 and _held(merchant, member_id) == 1


def test_a_members_second_claim_of_a_day_reads_their_count_and_commits_once(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a limit above one, whether the claim is the member's first of the day (a distinct claimer) is read
    from their count item, not guessed: a wrong guess would cancel a whole transaction and send it again."""
    template_id = _template(api, merchant, per_member_limit=3)
    member = api.member_with_card(merchant)
    assert _claim(api, member["token"], template_id)[0] == 200
    calls = record(monkeypatch)
    status, coupon = _claim(api, member["token"], template_id)
    assert status == 200, coupon
    assert _shape(calls) == (1 + AUTH, ["TransactWriteItems"])


def test_every_shard_emptied_then_sold_out(api: Any, merchant: Any) -> None:
    """16 units over 16 shards of one unit: guesses hit empty shards and find the rest; the 17th is sold out."""
    template_id = _template(api, merchant, total_stock=16)
    people = [api.member_with_card(merchant)["token"] for _ in range(17)]
    answers = [_claim(api, token, template_id) for token in people]
    assert [s for s, _ in answers[:16]] == [200] * 16
    assert (answers[16][0], answers[16][1]["error"]["code"]) == (409, "SOLD_OUT")
    assert _stock_left(merchant, template_id) == 0


def test_a_listing_within_the_shelf_bound_does_not_query_the_shelf_and_one_after_it_does(
    api: Any, merchant: Any, clock: timeline.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drop's listings all read one partition per merchant, `MCH#{mid}#SHELF`: a container queries it once
    per shelf.CACHE_SECONDS, not once per listing."""
    template_id = _template(api, merchant)
    member = api.member_with_card(merchant)
    shelf_key = shelf_pk(merchant.merchant_id)
    calls = record(monkeypatch)

    def shelf_queries() -> int:
        return sum(1 for _, kwargs, _ in calls.named("Query") if shelf_key in json.dumps(kwargs))

    def listing() -> None:
        status, body = api.get("/v1/coupons/offers", token=member["token"])
        assert status == 200 and [o["template_id"] for o in body["offers"]] == [template_id], body

    listing()
    assert shelf_queries() == 1  # the template's creation here forgot the copy
    clock.advance(seconds=shelf.CACHE_SECONDS - 1)
    listing()
    assert shelf_queries() == 1  # within the bound: this container's copy
    clock.advance(seconds=1)
    listing()
    assert shelf_queries() == 2


def test_sign_in_reads_the_member_once_before_its_write(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = api.member_with_card(merchant)
    calls = record(monkeypatch)
    status, body = api.post("/v1/me/sign-in", token=member["token"])
    assert status == 200 and body["already_signed_in"] is False, body
    assert _shape(calls) == (1 + AUTH, ["TransactWriteItems"])


def test_me_reads_the_member_once(api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The member row read to refuse an erased member's token is the one `GET /v1/me` shows: no second read."""
    member = api.member_with_card(merchant)
    api.get("/v1/me", token=member["token"])  # the merchant's settings are cached from here on
    calls = record(monkeypatch)
    status, body = api.get("/v1/me", token=member["token"])
    assert status == 200 and body["member_id"] == member["member"]["member_id"], body
    key = member_pk(merchant.merchant_id, member["member"]["member_id"])
    member_reads = [c for c in calls.named("GetItem") if c[1]["Key"]["pk"]["S"] == key]
    assert len(member_reads) == 1, calls.calls


def test_a_checkout_reads_the_spending_password_item_only_for_stored_value(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a sale needs the member's spending password depends on its stored value alone: a cash sale makes
    no read of the member's password item (it was read and thrown away on every one), a stored-value sale does."""
    from mini_program_api.money import ledger
    from mini_program_api.money.ledger import Account, Operation

    member = api.member_with_card(merchant)
    member_id = member["member"]["member_id"]
    credit = ledger.postings({Account("principal"): 5000})
    ledger.post(
        merchant.merchant_id, member_id, Operation(f"test-credit-{uuid.uuid4().hex[:8]}", "TEST_CREDIT", credit)
    )
    staff = api.staff_token(merchant)

    def password_reads(**paid: int) -> int:
        calls = record(monkeypatch)
        body = {"member_code": api.member_code(member["token"]), "amount": 3000, **paid}
        status, answer = api.post(
            "/v1/staff/checkout", body, token=staff, headers={"idempotency-key": uuid.uuid4().hex}
        )
        assert status == 200, answer
        key = member_pk(merchant.merchant_id, member_id)
        return sum(
            1 for c in calls.named("GetItem") if c[1]["Key"]["pk"]["S"] == key and c[1]["Key"]["sk"]["S"] == "SPENDPWD"
        )

    assert password_reads() == 0
    assert password_reads(stored_value=1000) == 1


def test_a_checkout_reads_the_staff_session_its_keys_record_the_member_code_and_an_uncached_merchant_together(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their keys are known from the request (the cashier's account, the Idempotency-Key's record, the scanned
    code's lookup, the merchant), so a sale reads them in one consistent BatchGetItem, not a GetItem each: before
    its transaction it reads those together and then the member. A container holding the merchant (cached for
    merchants.CACHE_SECONDS) leaves it out; one without it (a cold start) caches the row the batch read. The retry
    of the same sale still answers the first receipt, from its record; so does a gift redeemed by code."""
    from mini_program_api.merchants import merchants
    from mini_program_api.money import idempotency
    from mini_program_api.platform import auth

    member = api.member_with_card(merchant)
    staff = api.staff_token(merchant)
    account = (f"MCH#{merchant.merchant_id}#STAFF", auth.verify(staff).subject)

    def sale(key: str, code: str) -> tuple[int, Any]:
        body = {"member_code": code, "amount": 3000}
        return api.post("/v1/staff/checkout", body, token=staff, headers={"idempotency-key": key})

    def batched(cold: bool) -> list[tuple[str, str]]:
        key, code = uuid.uuid4().hex, api.member_code(member["token"])
        if cold:
            monkeypatch.setattr(merchants, "_cache", {})
        calls = record(monkeypatch)
        status, receipt = sale(key, code)
        assert status == 200, receipt
        assert _shape(calls) == (2, ["TransactWriteItems"])
        (batch,) = calls.named("BatchGetItem")
        (asked,) = batch[1]["RequestItems"].values()
        assert asked["ConsistentRead"] is True
        assert sale(key, code) == (200, receipt)
        op_key = idempotency.client_key(merchant.merchant_id, "checkout", key).item_key
        code_key = (f"MCH#{merchant.merchant_id}#CODE#{code}", "LOOKUP")
        keys = sorted((k["pk"]["S"], k["sk"]["S"]) for k in asked["Keys"])
        mine = {op_key, code_key, account}
        return [k for k in keys if k not in mine] if mine <= set(keys) else keys

    assert batched(cold=True) == [(f"MCH#{merchant.merchant_id}", PROFILE)]
    assert merchants.fresh(merchant.merchant_id) is not None  # cached from the batch
    assert batched(cold=False) == []


def test_keys_dynamodb_leaves_unprocessed_are_asked_again_after_a_pause(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB may answer a BatchGetItem in part (a throttled partition) and name the rest UnprocessedKeys, which
    DynamoDB Local never does: `get_together` asks for those again, pausing first, until every key is answered,
    and gives each item at its place (None where there is none)."""
    from pynamodb.connection.table import TableConnection

    from mini_program_api.db import models

    member_id = api.member_with_card(merchant)["member"]["member_id"]
    wanted: list[tuple[type[models.Item], str, str]] = [
        (Member, member_pk(merchant.merchant_id, member_id), PROFILE),
        (models.Merchant, models.merchant_pk(merchant.merchant_id), PROFILE),
        (models.Lookup, f"MCH#{merchant.merchant_id}#CODE#none", models.LOOKUP),
    ]
    real = TableConnection.batch_get_item
    asked: list[int] = []

    def partly(self: TableConnection, keys: Any, **kwargs: Any) -> Any:
        keys = list(keys)
        asked.append(len(keys))
        answer = real(self, keys[:1], **kwargs)  # the first key answered, the others left for later
        if keys[1:]:
            answer["UnprocessedKeys"] = {self.table_name: {"Keys": keys[1:], "ConsistentRead": True}}
        return answer

    pauses: list[float] = []
    monkeypatch.setattr(TableConnection, "batch_get_item", partly)
    monkeypatch.setattr(models.time, "sleep", pauses.append)
    found = models.get_together(wanted)
    assert asked == [3, 2, 1]
    assert len(pauses) == 2 and 0 < pauses[0] < pauses[1]
    member_row, merchant_row, lookup = found
    assert isinstance(member_row, Member) and str(member_row.member_id) == member_id
    assert isinstance(merchant_row, models.Merchant) and str(merchant_row.merchant_id) == merchant.merchant_id
    assert lookup is None


def test_a_batch_dynamodb_keeps_leaving_unprocessed_answers_unavailable_after_its_attempts(
    api: Any, merchant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partition throttled for longer than a request should wait: `get_together` stops after BATCH_ATTEMPTS calls
    and the request answers 503 DATABASE_UNAVAILABLE (retry later), not a Lambda timed out; a sale made so writes
    nothing, and the same key sells once DynamoDB answers again."""
    from pynamodb.connection.table import TableConnection

    from mini_program_api.db import models

    member = api.member_with_card(merchant)
    staff = api.staff_token(merchant)
    key = uuid.uuid4().hex
    real = TableConnection.batch_get_item
    asked: list[int] = []

    def never(self: TableConnection, keys: Any, **kwargs: Any) -> Any:
        keys = list(keys)
        asked.append(len(keys))
        return {"Responses": {}, "UnprocessedKeys": {self.table_name: {"Keys": keys, "ConsistentRead": True}}}

    pauses: list[float] = []
    monkeypatch.setattr(models.time, "sleep", pauses.append)
    monkeypatch.setattr(TableConnection, "batch_get_item", never)
    body = {"member_code": api.member_code(member["token"]), "amount": 3000}
    status, answer = api.post("/v1/staff/checkout", body, token=staff, headers={"idempotency-key": key})
    assert (status, answer["error"]["code"]) == (503, "DATABASE_UNAVAILABLE")
    assert len(asked) == models.BATCH_ATTEMPTS and len(pauses) == models.BATCH_ATTEMPTS - 1
    assert sum(pauses) < 5

    monkeypatch.setattr(TableConnection, "batch_get_item", real)
    status, receipt = api.post("/v1/staff/checkout", body, token=staff, headers={"idempotency-key": key})
    assert status == 200, receipt
    assert api.post("/v1/staff/checkout", body, token=staff, headers={"idempotency-key": key}) == (200, receipt)
