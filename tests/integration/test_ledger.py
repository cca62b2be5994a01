"""The ledger core: exactly-once, never negative, balance == sum of entries, under any race.

Concurrency here is real: threads issuing real HTTP requests to the serialized
local DynamoDB server, through the same code the handlers run.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mini_program_api.db.ledger import LedgerEntry
from mini_program_api.db.models import member_pk
from mini_program_api.members import sign_in
from mini_program_api.money import idempotency, ledger
from mini_program_api.money.ledger import Account, Operation, Posting
from mini_program_api.platform.errors import KabaoError
from tests.ledger_checks import checked_balances

THREADS = 16


@pytest.fixture
def member_id(api: Any, merchant: Any) -> str:
    return api.member_with_card(merchant)["member"]["member_id"]


def _grant(merchant: Any, member_id: str, key: str, **amounts: int) -> ledger.Posted:
    postings = tuple(Posting(Account(a), n) for a, n in amounts.items())
    return ledger.post(merchant.merchant_id, member_id, Operation(key, "ADJUST", postings))


def test_post_is_applied_once_and_replay_returns_the_first_result(merchant: Any, member_id: str) -> None:
    first = _grant(merchant, member_id, "grant-a", points=100, growth=20)
    again = _grant(merchant, member_id, "grant-a", points=100, growth=20)
    assert first.replayed is False and again.replayed is True
    assert again.amounts == first.amounts and again.created_at == first.created_at
    assert checked_balances(merchant.merchant_id, member_id)[Account.POINTS] == 100


def test_same_key_with_a_different_request_is_refused(merchant: Any, member_id: str) -> None:
    _grant(merchant, member_id, "grant-b", points=100)
    with pytest.raises(KabaoError) as exc:
        _grant(merchant, member_id, "grant-b", points=999)
    assert exc.value.code == "IDEMPOTENCY_KEY_REUSED" and exc.value.status == 422
    assert checked_balances(merchant.merchant_id, member_id)[Account.POINTS] == 100


def test_overspend_is_refused_and_writes_nothing(merchant: Any, member_id: str) -> None:
    _grant(merchant, member_id, "grant-c", points=50, principal=1000)
    with pytest.raises(KabaoError) as exc:
        _grant(merchant, member_id, "spend-c", points=-51)
    assert exc.value.code == "INSUFFICIENT_POINTS" and exc.value.status == 409
    with pytest.raises(KabaoError) as exc:
        _grant(merchant, member_id, "spend-d", points=-10, principal=-1001)
    assert exc.value.code == "INSUFFICIENT_BALANCE"
    entries = list(
        LedgerEntry.query(member_pk(merchant.merchant_id, member_id), LedgerEntry.sk.startswith("TXN#spend"))
    )
    assert entries == []
    assert checked_balances(merchant.merchant_id, member_id) == {
        Account.POINTS: 50,
        Account.PRINCIPAL: 1000,
        Account.BONUS: 0,
        Account.GROWTH: 0,
    }


def test_posting_to_an_unknown_member_writes_nothing(merchant: Any) -> None:
    with pytest.raises(KabaoError) as exc:
        _grant(merchant, "nobody", "grant-x", points=-1)
    assert exc.value.code == "MEMBER_NOT_FOUND"
    with pytest.raises(KabaoError):
        _grant(merchant, "nobody", "grant-y", points=5)
    assert ledger.balances_from_entries(merchant.merchant_id, "nobody") == {a: 0 for a in ledger.MEMBER_ACCOUNTS}


@pytest.mark.parametrize(
    ("key", "postings"),
    [
        ("bad key with spaces", (Posting(Account.POINTS, 1),)),
        ("k#1", (Posting(Account.POINTS, 1),)),
        ("k1", ()),
        ("k2", (Posting(Account.POINTS, 0),)),
        ("k3", (Posting(Account.POINTS, 1.5),)),  # type: ignore[arg-type]
        ("k4", (Posting(Account.POINTS, 1), Posting(Account.POINTS, 2))),
    ],
)
def test_malformed_operations_are_programming_errors(key: str, postings: tuple[Posting, ...]) -> None:
    with pytest.raises(ValueError):
        Operation(key, "ADJUST", postings)


@pytest.mark.parametrize("key", [None, "", "short", "has space in it", "x" * 65, "semi;colon00"])
def test_client_idempotency_keys_are_validated(key: str | None) -> None:
    with pytest.raises(KabaoError) as exc:
        idempotency.client_key("m1", "claim", key, "member-1")
    assert exc.value.code == "INVALID_IDEMPOTENCY_KEY" and exc.value.status == 400


def test_concurrent_sign_ins_credit_once(merchant: Any, member_id: str) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: sign_in.sign_in(merchant.merchant_id, member_id), range(THREADS * 2)))
    assert sum(not r.already_signed_in for r in results) == 1
    balances = checked_balances(merchant.merchant_id, member_id)
    assert (balances[Account.POINTS], balances[Account.GROWTH]) == (10, 5)


def test_concurrent_spending_never_overdraws_and_retries_count_once(merchant: Any, member_id: str) -> None:
    _grant(merchant, member_id, "seed", points=100)
    # 16 threads x 6 spends of 7 points, each spend sent twice (a client retry): 96 distinct spends of 700 points.
    keys = [f"spend-{t}-{i}" for t in range(THREADS) for i in range(6)]
    outcomes: dict[str, str] = {}

    def spend(key: str) -> None:
        for _ in range(2):
            try:
                posted = _grant(merchant, member_id, key, points=-7)
                outcomes.setdefault(key, "replayed" if posted.replayed else "spent")
            except KabaoError as exc:
                assert exc.code in {"INSUFFICIENT_POINTS", "CONCURRENT_UPDATE"}, exc.code
                outcomes.setdefault(key, exc.code)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(spend, keys))
    spent = ledger.balances_from_entries(merchant.merchant_id, member_id)
    balances = checked_balances(merchant.merchant_id, member_id)
    entries = [
        e for e in LedgerEntry.query(member_pk(merchant.merchant_id, member_id), LedgerEntry.sk.startswith("TXN#spend"))
    ]
    assert len(entries) == 14 and balances[Account.POINTS] == 100 - 14 * 7 == spent[Account.POINTS]


def test_randomized_concurrent_mix_keeps_every_invariant(merchant: Any, member_id: str) -> None:
    rng = random.Random(20261123)
    ops = []
    for i in range(120):
        kind = rng.choice(["earn", "spend", "spend", "signin"])
        amount = rng.randint(1, 40)
        ops.append((kind, f"op-{i}", amount))
    ops += rng.sample(ops, 40)  # duplicates: retried operations
    rng.shuffle(ops)
    accepted: dict[str, int] = {}

    def run(op: tuple[str, str, int]) -> None:
        kind, key, amount = op
        try:
            if kind == "signin":
                sign_in.sign_in(merchant.merchant_id, member_id)
            else:
                delta = amount if kind == "earn" else -amount
                _grant(
                    merchant, member_id, key, points=delta, growth=amount if kind == "earn" else 0
                ) if kind == "earn" else _grant(merchant, member_id, key, points=delta)
                accepted[key] = delta
        except KabaoError as exc:
            assert exc.code in {"INSUFFICIENT_POINTS", "CONCURRENT_UPDATE"}, exc.code

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, ops))
    balances = checked_balances(merchant.merchant_id, member_id)
    assert balances[Account.POINTS] == sum(accepted.values()) + 10  # one sign-in's points
