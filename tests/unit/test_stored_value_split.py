"""Stored value pays bonus first, then principal (money/stored_value.py): never more than asked, never negative."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mini_program_api.money.stored_value import split

FEN = st.integers(min_value=0, max_value=10**12)


@given(amount=FEN, bonus=FEN)
def test_split_takes_bonus_first_and_adds_up(amount: int, bonus: int) -> None:
    from_bonus, from_principal = split(amount, bonus)
    assert from_bonus + from_principal == amount
    assert 0 <= from_bonus <= bonus and from_principal >= 0
    assert from_principal == 0 or from_bonus == bonus  # principal is touched only once the bonus is gone


def test_split_examples() -> None:
    assert split(3000, 5000) == (3000, 0)
    assert split(3000, 1000) == (1000, 2000)
    assert split(0, 1000) == (0, 0)
    assert split(3000, 0) == (0, 3000)
