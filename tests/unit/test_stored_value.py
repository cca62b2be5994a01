"""Stored value: the debits of a payment (money/stored_value.py `debits`), a top-up's refund (topup/refunds.py
`terms`: principal back whole, the bonus that came with it clawed back, spent bonus kept out of the cash), the
prepaid cap's room (topup/orders.py `cap_room`, `within_cap`) and fen as the yuan text WeChat shows
(wallet/outbox.py `yuan`). The split itself: test_stored_value_split.py.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.money.ledger import Account
from mini_program_api.money.stored_value import debits
from mini_program_api.platform.errors import KabaoError
from mini_program_api.topup import orders, refunds
from mini_program_api.wallet.outbox import yuan
from tests.unit import rows

FEN = st.integers(min_value=0, max_value=10**12)

# --- paying ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal, bonus, amount, bonus_debit, principal_debit",
    [
        (5000, 1000, 3000, -1000, -2000),
        (5000, 1000, 1000, -1000, 0),
        (5000, 1000, 999, -999, 0),
        (5000, 1000, 6000, -1000, -5000),  # everything
        (0, 1000, 1000, -1000, 0),
        (5000, 0, 1, 0, -1),
        (5000, 1000, 6001, 0, -6001),  # short: all from principal, so the ledger refuses it (or replays a retry)
        (0, 0, 1, 0, -1),
    ],
)
def test_debits(principal: int, bonus: int, amount: int, bonus_debit: int, principal_debit: int) -> None:
    member = rows.member(principal=principal, bonus=bonus)
    assert debits(member, amount) == {Account.BONUS: bonus_debit, Account.PRINCIPAL: principal_debit}


@given(principal=FEN, bonus=FEN, amount=st.integers(1, 10**12))
def test_debits_never_leave_a_balance_negative_unless_refused(principal: int, bonus: int, amount: int) -> None:
    got = debits(rows.member(principal=principal, bonus=bonus), amount)
    assert -got[Account.BONUS] - got[Account.PRINCIPAL] == amount
    assert got[Account.BONUS] <= 0 and got[Account.PRINCIPAL] <= 0
    if amount <= principal + bonus:
        assert bonus + got[Account.BONUS] >= 0 and principal + got[Account.PRINCIPAL] >= 0
    else:  # the ledger's balance condition refuses it: no half payment from bonus
        assert got[Account.BONUS] == 0 and principal + got[Account.PRINCIPAL] < 0


# --- refunding a top-up: principal whole, bonus clawed back, spent bonus kept out of the cash --------------


@pytest.mark.parametrize(
    "amount, bonus, principal, bonus_held, cash, clawback",
    [
        (30000, 5000, 30000, 5000, 30000, 5000),  # nothing spent: all back, all clawed back
        (30000, 5000, 80000, 9000, 30000, 5000),  # other top-ups' money stays
        (30000, 5000, 30000, 2000, 27000, 2000),  # 3000 of the bonus spent: kept out of the cash
        (30000, 5000, 30000, 0, 25000, 0),  # the whole bonus spent
        (30000, 0, 30000, 0, 30000, 0),
        (30000, 30000, 30000, 0, 0, 0),  # 充300送300, the bonus all spent: nothing to pay back
        (100, 100, 100, 100, 100, 100),
    ],
)
def test_refund_terms(amount: int, bonus: int, principal: int, bonus_held: int, cash: int, clawback: int) -> None:
    assert refunds.terms(amount, bonus, principal, bonus_held) == (cash, clawback)


@pytest.mark.parametrize("amount, principal", [(30000, 29999), (30000, 0), (1, 0)])
def test_refund_refused_once_principal_is_spent(amount: int, principal: int) -> None:
    with pytest.raises(KabaoError) as exc:
        refunds.terms(amount, 5000, principal, 5000)
    assert exc.value.code == "REFUND_PRINCIPAL_SPENT"


@given(amount=st.integers(1, 500000), bonus_share=st.integers(0, 100), principal=FEN, bonus_held=FEN)
def test_a_refund_never_creates_value(amount: int, bonus_share: int, principal: int, bonus_held: int) -> None:
    """Top-up then refund leaves the member exactly where they started: they paid `amount` and got principal and
    bonus; the refund takes the principal and what is left of the bonus back and pays cash for the rest, minus
    whatever bonus they already spent (plans give at most their amount as bonus: topup/plans.py)."""
    bonus = amount * bonus_share // 100
    try:
        cash, clawback = refunds.terms(amount, bonus, principal, bonus_held)
    except KabaoError:
        assert principal < amount
        return
    assert 0 <= cash <= amount
    assert 0 <= clawback <= min(bonus, bonus_held)  # no balance goes negative
    spent_bonus = bonus - clawback
    assert -amount + amount + bonus - amount - clawback + cash == 0  # paid, credited, debited, paid back
    assert cash == amount - spent_bonus


# --- the prepaid cap ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cap, principal, pending, room",
    [
        (500000, 0, 0, 500000),
        (500000, 499999, 0, 1),
        (500000, 500000, 0, 0),
        (500000, 300000, 200000, 0),  # unpaid top-ups hold their room
        (500000, 100000, 150000, 250000),
        (500000, 600000, 0, 0),  # over the cap (the cap was lowered, or a paid top-up went over): no room, never less
        (100000, 200000, 50000, 0),
    ],
)
def test_cap_room(cap: int, principal: int, pending: int, room: int) -> None:
    merchant, member = rows.merchant(prepaid_cap=cap), rows.member(principal=principal, pending_topup=pending)
    assert orders.cap_room(merchant, member) == room


@given(
    cap=st.integers(0, 10**8),
    principal=st.integers(0, 10**8),
    pending=st.integers(0, 10**8),
    amount=st.integers(1, 10**8),
)
def test_the_cap_condition_agrees_with_the_room(cap: int, principal: int, pending: int, amount: int) -> None:
    """The condition a top-up's transaction checks (`within_cap`) lets through exactly what `cap_room` allows."""
    merchant, member = rows.merchant(prepaid_cap=cap), rows.member(principal=principal, pending_topup=pending)
    room = orders.cap_room(merchant, member)
    assert room >= 0
    condition = str(orders.within_cap(merchant, member, amount))
    pinned = re.fullmatch(
        r"\(\(pending_topup = \{'N': '(-?\d+)'\} AND principal <= \{'N': '(-?\d+)'\}\)"
        r" AND attribute_not_exists \(erased_at\)\)",
        condition,
    )
    assert pinned is not None, condition
    assert int(pinned[1]) == pending
    assert (principal <= int(pinned[2])) == (amount <= room)


# --- fen as yuan text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fen, text",
    [
        (0, "+0.00"),
        (1, "+0.01"),
        (99, "+0.99"),
        (100, "+1.00"),
        (6800, "+68.00"),
        (-6800, "-68.00"),
        (-5, "-0.05"),
        (123456789, "+1234567.89"),
    ],
)
def test_yuan(fen: int, text: str) -> None:
    assert yuan(fen) == text


@given(fen=st.integers(-(10**38) + 1, 10**38 - 1))
def test_yuan_reads_back_as_the_same_fen(fen: int) -> None:
    text = yuan(fen)
    assert re.fullmatch(r"[+-]\d+\.\d\d", text)
    whole, cents = text[1:].split(".")
    assert (-1 if text[0] == "-" else 1) * (int(whole) * 100 + int(cents)) == fen
