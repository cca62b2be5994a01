"""Exactly once per operation (money/idempotency.py, money/ledger.py): the request fingerprint is the same for the
same request however its fields are ordered and different when any field that defines it changes; keys are the
member's own or the merchant's by scope; a client's Idempotency-Key is 8-64 ASCII letters, digits, '-' or '_'; ids
derived from a key are stable; and a ledger operation is well formed before anything is written.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.money import idempotency, ledger
from mini_program_api.money.ledger import Account, Operation, Posting
from mini_program_api.platform.errors import KabaoError

KEY = idempotency.key("m1", "checkout:abcdefgh", None)
FIELDS = {"member_code": None, "amount": 10000, "coupon_id": "c1", "points": 0, "stored_value": 2500, "store_id": "s1"}


def fingerprint(fields: dict[str, object], merchant: str = "m1", member: str = "u1", kind: str = "CHECKOUT") -> str:
    key = idempotency.Key(merchant, KEY.op_key, None)
    return idempotency.request(key, member, kind, fields).fingerprint  # type: ignore[arg-type]


def test_same_request_same_fingerprint() -> None:
    assert fingerprint(dict(FIELDS)) == fingerprint(dict(FIELDS))
    assert fingerprint(FIELDS) == fingerprint(dict(reversed(list(FIELDS.items()))))
    assert len(fingerprint(FIELDS)) == 64  # sha256 hex: a fixed-size attribute whatever the request


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 10001},
        {"amount": "10000"},  # a string is not the number
        {"coupon_id": None},
        {"coupon_id": "c2"},
        {"points": 1},
        {"stored_value": 0},
        {"store_id": "s2"},
        {"member_code": "123456"},
        {"extra": 1},
    ],
)
def test_any_defining_field_changes_the_fingerprint(change: dict[str, object]) -> None:
    assert fingerprint(FIELDS | change) != fingerprint(FIELDS)


def test_a_missing_field_is_not_a_null_one() -> None:
    assert fingerprint({"coupon_id": None}) != fingerprint({})


@pytest.mark.parametrize(
    "merchant, member, kind", [("m2", "u1", "CHECKOUT"), ("m1", "u2", "CHECKOUT"), ("m1", "u1", "REFUND")]
)
def test_merchant_member_and_kind_are_part_of_the_request(merchant: str, member: str, kind: str) -> None:
    assert fingerprint(FIELDS, merchant, member, kind) != fingerprint(FIELDS)


TEXT = 'abcXYZ019_-:"\\ 金额券é\u0000'  # JSON's escapes, non-ASCII and NUL among ordinary characters
SCALARS = st.one_of(st.none(), st.integers(-(10**38), 10**38), st.text(TEXT, max_size=12))
FIELD_SETS = st.dictionaries(st.text(TEXT, min_size=1, max_size=8), SCALARS, min_size=1, max_size=8)


@given(fields=FIELD_SETS, seed=st.integers(0, 2**32))
def test_field_order_never_matters(fields: dict[str, object], seed: int) -> None:
    shuffled = list(fields.items())
    random.Random(seed).shuffle(shuffled)
    assert fingerprint(dict(shuffled)) == fingerprint(fields)


@given(fields=FIELD_SETS, data=st.data())
def test_changing_any_one_field_changes_the_fingerprint(fields: dict[str, object], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(fields)))
    other = data.draw(SCALARS.filter(lambda v: v != fields[name] or type(v) is not type(fields[name])))
    assert fingerprint(fields | {name: other}) != fingerprint(fields)


# --- keys -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", sorted(idempotency.SHARED_SCOPES))
def test_staff_and_admin_keys_belong_to_the_merchant(scope: str) -> None:
    key = idempotency.key("m1", f"{scope}:abcdefgh", "u1")
    assert key.member_id is None
    assert key.item_key == (f"MCH#m1#OP#{scope}:abcdefgh", "OP")


@pytest.mark.parametrize(
    "op_key", ["claim:abcdefgh", "topup:abcdefgh", "signin:2026-01-01", "wxpay:4200001", "reward:xyz"]
)
def test_member_keys_belong_to_the_member(op_key: str) -> None:
    key = idempotency.key("m1", op_key, "u1")
    assert key.item_key == ("MCH#m1#MEM#u1", f"OP#{op_key}")
    with pytest.raises(ValueError):
        idempotency.key("m1", op_key, None)


def test_two_members_same_key_never_collide_and_ids_are_stable() -> None:
    a, b = idempotency.key("m1", "claim:abcdefgh", "u1"), idempotency.key("m1", "claim:abcdefgh", "u2")
    assert a.item_key != b.item_key and a.derived_id("C") != b.derived_id("C")
    assert a.derived_id("C") == idempotency.key("m1", "claim:abcdefgh", "u1").derived_id("C")
    assert a.derived_id("C").startswith("C") and len(a.derived_id("C")) == 25
    shared = idempotency.key("m1", "checkout:abcdefgh", "u1")
    assert shared.derived_id("O") == idempotency.key("m1", "checkout:abcdefgh", "u2").derived_id("O")


@pytest.mark.parametrize(
    "op_key, expires",
    [("checkout:abcdefgh", True), ("topup:abcdefgh", True), ("signin:2026-01-01", False), ("wxpay:42", False)],
)
def test_only_client_keys_expire(op_key: str, expires: bool) -> None:
    assert idempotency.key("m1", op_key, "u1").expires is expires


@pytest.mark.parametrize("header", ["abcdefgh", "A" * 64, "0123-4567_89", "x" * 8])
def test_client_key_accepted(header: str) -> None:
    assert idempotency.client_key("m1", "checkout", header).op_key == f"checkout:{header}"


@pytest.mark.parametrize(
    "header",
    [None, "", "abcdefg", "A" * 65, "abc defgh", "abcdefgh:", "abc/defgh", "订单12345678", "١٢٣٤٥٦٧٨", "abcdefgh\n"],
)
def test_client_key_refused(header: str | None) -> None:
    with pytest.raises(KabaoError) as exc:
        idempotency.client_key("m1", "checkout", header)
    assert exc.value.code == "INVALID_IDEMPOTENCY_KEY"


def test_client_key_scope_must_be_a_client_scope() -> None:
    with pytest.raises(ValueError):
        idempotency.client_key("m1", "signin", "abcdefgh")


def test_member_code_hash_is_per_merchant() -> None:
    assert idempotency.code_hash("m1", "123456") == idempotency.code_hash("m1", "123456")
    assert idempotency.code_hash("m1", "123456") != idempotency.code_hash("m2", "123456")


# --- ledger operations --------------------------------------------------------------------------------------------


def operation(*postings: Posting, op_key: str = "signin:2026-01-01", **kw: object) -> Operation:
    return Operation(op_key, "SIGN_IN", postings, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "build",
    [
        lambda: operation(),  # posts nothing
        lambda: operation(Posting(Account.POINTS, 0)),
        lambda: operation(Posting(Account.POINTS, True)),  # type: ignore[arg-type]
        lambda: operation(Posting(Account.POINTS, 1.0)),  # type: ignore[arg-type]
        lambda: operation(Posting(Account.POINTS, 5), Posting(Account.POINTS, -3)),  # twice, one leg
        lambda: operation(Posting(Account.PUNCH, -1)),  # a punch posting names its card
        lambda: operation(Posting(Account.POINTS, 1, card_id="p1")),
        lambda: operation(Posting(Account.POINTS, 1), op_key="bad key"),
        lambda: operation(Posting(Account.POINTS, 1), op_key="x" * 121),
        lambda: operation(Posting(Account.POINTS, 1), op_key=""),
    ],
)
def test_malformed_operations_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_one_account_twice_in_separate_legs() -> None:
    op = operation(Posting(Account.POINTS, -300), Posting(Account.POINTS, 120, leg="earned"))
    assert [p.key for p in op.postings] == ["points", "points:earned"]


def test_postings_leave_out_zero_amounts() -> None:
    got = ledger.postings({Account.POINTS: 0, Account.BONUS: -5, Account.PRINCIPAL: 0, Account.GROWTH: 3})
    assert got == (Posting(Account.BONUS, -5), Posting(Account.GROWTH, 3))
    assert ledger.postings({Account.POINTS: 0}) == ()


def test_an_operation_fingerprint_ignores_posting_order_but_not_amounts() -> None:
    a = operation(Posting(Account.GROWTH, 5), Posting(Account.POINTS, 10))
    b = operation(Posting(Account.POINTS, 10), Posting(Account.GROWTH, 5))
    c = operation(Posting(Account.POINTS, 11), Posting(Account.GROWTH, 5))
    assert a.request_of("m1", "u1").fingerprint == b.request_of("m1", "u1").fingerprint
    assert a.request_of("m1", "u1").fingerprint != c.request_of("m1", "u1").fingerprint
    assert a.request_of("m1", "u1").fingerprint != a.request_of("m1", "u2").fingerprint


def test_a_stated_request_defines_the_operation_not_its_split() -> None:
    """A spend split by balances that moved since is still the same request: a retry replays it."""
    first = operation(Posting(Account.BONUS, -300), Posting(Account.PRINCIPAL, -700), request={"amount": 1000})
    retry = operation(Posting(Account.PRINCIPAL, -1000), request={"amount": 1000})
    other = operation(Posting(Account.PRINCIPAL, -1000), request={"amount": 1001})
    assert first.request_of("m1", "u1").fingerprint == retry.request_of("m1", "u1").fingerprint
    assert first.request_of("m1", "u1").fingerprint != other.request_of("m1", "u1").fingerprint


def test_an_operations_idempotency_request_is_for_its_own_op_key() -> None:
    theirs = idempotency.request(idempotency.key("m1", "checkout:abcdefgh", None), "u1", "CHECKOUT", {"amount": 1})
    with pytest.raises(ValueError):
        operation(Posting(Account.POINTS, 1), op_key="checkout:zzzzzzzz", idem=theirs)
    assert operation(Posting(Account.POINTS, 1), op_key="checkout:abcdefgh", idem=theirs).idem is theirs


def test_an_operation_is_immutable_and_its_memo_its_own() -> None:
    """Operation is a NamedTuple validated in `__new__` (cheaper to build at import than a frozen dataclass): still
    read-only, and the memo left out is a fresh dict per operation, never one shared default."""
    a, b = operation(Posting(Account.POINTS, 1)), operation(Posting(Account.POINTS, 2))
    assert a.memo == {} and a.memo is not b.memo
    assert (a.request, a.idem, a.credits_first) == (None, None, False)
    with pytest.raises(AttributeError):
        a.kind = "ADJUST"  # type: ignore[misc]
    assert a._replace(kind="ADJUST") == operation(Posting(Account.POINTS, 1))._replace(kind="ADJUST")
    with pytest.raises(ValueError):  # a copy is checked as a new one is
        a._replace(postings=())
