"""Marking a member's WeChat card stale, inside the transaction that changes what the card shows.

Called from `ledger.stage` (every points, principal or bonus change goes through it) and from the
tier review (the one tier change without a posting), so no caller can forget it. One item per
member (`MemberWallet`, sk WALLET): ADD 1 to its version and put it on the sync job's list now.
Ten changes in a burst are ten ADDs to one item and one push of the final values (sync.py).

Every member gets the mark, with or without a WeChat card: whether there is one is only known by
reading, and a read inside every balance change would cost more than this one write.
"""

from __future__ import annotations

from mini_program_api.db.models import member_pk
from mini_program_api.db.transact import Transaction
from mini_program_api.jobs import due
from mini_program_api.platform import clock
from mini_program_api.wallet.models import MEMBER_SK, SYNC_JOB, MemberWallet

_KIND_TEXT = {
    "CHECKOUT": "消费",
    "CHECKOUT_REFUND": "退款",
    "TOPUP": "充值",
    "TOPUP_REFUND": "充值退款",
    "SIGN_IN": "签到",
    "POINTS_EXPIRED": "积分过期",
    "REFERRAL": "邀请奖励",
}


def yuan(fen: int) -> str:
    """Fen as signed yuan text for WeChat's change notice: -6800 -> "-68.00"."""
    sign = "-" if fen < 0 else "+"
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def record_texts(kind: str, points: int, stored_value: int) -> tuple[str | None, str | None]:
    """What WeChat's change notice says for one change (积分 and 余额 each), e.g. "消费 +68 积分"."""
    label = _KIND_TEXT.get(kind, "变动")
    return (
        f"{label} {points:+d} 积分" if points else None,
        f"{label} {yuan(stored_value)} 元" if stored_value else None,
    )


def mark(
    tx: Transaction,
    merchant_id: str,
    member_id: str,
    prefix: str = "",
    bonus_text: str | None = None,
    balance_text: str | None = None,
) -> None:
    """Stage "the member's card is stale" in `tx` (labels start with `prefix`, as in ledger.stage)."""
    pk = member_pk(merchant_id, member_id)
    due_pk, due_sk = due.slot(SYNC_JOB, pk, clock.now())
    actions = [
        MemberWallet.version.add(1),
        MemberWallet.due_pk.set(due_pk),
        MemberWallet.due_sk.set(due_sk),
        MemberWallet.merchant_id.set(merchant_id),
        MemberWallet.member_id.set(member_id),
    ]
    if bonus_text:
        actions.append(MemberWallet.record_bonus.set(bonus_text))
    if balance_text:
        actions.append(MemberWallet.record_balance.set(balance_text))
    tx.update(f"{prefix}wallet:sync", MemberWallet(pk, MEMBER_SK), actions=actions)
