"""The ledger: the only way points, principal, bonus and growth change.

`post` writes, in ONE TransactWriteItems, the operation's record (money/idempotency.py),
an immutable entry per account and the member's balance update. The record is one
item per op key with `attribute_not_exists`; each entry's sort key also comes from
the op key (`TXN#{op_key}#{account}`, `attribute_not_exists`, a second line of
defence), and the balance update carries `balance >= -amount`, so:

- a retried operation (same op key, same request) writes nothing and returns the
  first result, even when it would post to other accounts today (a spend split by
  balances that moved, a sign-in whose reward changed);
- the same op key with a different request is refused (IDEMPOTENCY_KEY_REUSED);
- no balance goes negative, and balance == sum of its entries, always.

Callers may add their own writes (an order marked PAID, a coupon marked used)
to the same transaction, so "did it" and "recorded it" cannot diverge.

Example::

    op = Operation(op_key="signin:2026-11-23", kind="SIGN_IN",
                   postings=(Posting(Account.GROWTH, 5), Posting(Account.POINTS, 10)))
    posted = ledger.post(merchant_id, member_id, op)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from mini_program_api.db.ledger import LedgerEntry, OperationRecord
from mini_program_api.db.models import PROFILE, Member, member_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.money import frozen, idempotency
from mini_program_api.money.idempotency import Request
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.reports import counters
from mini_program_api.wallet import outbox
from mini_program_api.webhooks import outbox as webhooks_outbox

if TYPE_CHECKING:
    from mini_program_api.db.punch_cards import PunchCard
    from mini_program_api.platform import paging


class Account(StrEnum):
    POINTS = "points"
    PRINCIPAL = "principal"
    BONUS = "bonus"
    GROWTH = "growth"
    PUNCH = "punch"  # visits left on one punch card: that balance lives on the card item


MEMBER_ACCOUNTS = (Account.POINTS, Account.PRINCIPAL, Account.BONUS, Account.GROWTH)
# Opening balances brought from another system (member_import/): their own kind, so reports show imported
# liability apart from top-ups, and balance = sum of entries holds from the member's first day.
IMPORT = "IMPORT"

# What a member sees as one ledger: stored value is principal and bonus together.
GROUPS: dict[str, tuple[Account, ...]] = {
    "points": (Account.POINTS,),
    "balance": (Account.PRINCIPAL, Account.BONUS),
    "growth": (Account.GROWTH,),
    "punch": (Account.PUNCH,),
}
_GROUP_OF = {account: group for group, accounts in GROUPS.items() for account in accounts}
_SHORTFALL_CODE = {
    Account.POINTS: "INSUFFICIENT_POINTS",
    Account.PRINCIPAL: "INSUFFICIENT_BALANCE",
    Account.BONUS: "INSUFFICIENT_BALANCE",
    Account.GROWTH: "INSUFFICIENT_GROWTH",
    Account.PUNCH: "PUNCH_CARD_USED_UP",
}
_OP_KEY = re.compile(r"^[A-Za-z0-9:._\-]{1,120}$")
_BALANCE = "balance"
_ENTRY = "entry:"


class Posting(NamedTuple):
    account: Account
    amount: int  # signed; fen for principal/bonus
    card_id: str | None = None  # which punch card, for Account.PUNCH only
    # A second posting to one account in one operation needs its own leg: a checkout spends
    # points and earns points, and expiry (members/lifecycle.py) must see the earning as its own lot.
    leg: str | None = None

    @property
    def key(self) -> str:
        if self.card_id:
            return f"punch:{self.card_id}"
        return f"{self.account.value}:{self.leg}" if self.leg else self.account.value


class _OperationFields(NamedTuple):
    op_key: str
    kind: str
    postings: tuple[Posting, ...]
    memo: dict[str, str | int]
    # What the caller asked for. When set, it (not the postings) identifies the request, so a retry
    # whose computed split changed (a spend split by balances that moved since) is still a replay.
    request: dict[str, str | int] | None
    # The request as its operation already defined it (a client key's, a staff one naming the member
    # by code); without it the op key is the member's own and the request is the one above.
    idem: Request | None
    # What this operation credits to an account may pay for what it debits from it. Off by default: a
    # sale's points earned must not pay for the points it spends. A refund's points given back may pay
    # for its clawback (two postings, so reports see each: never a netted one).
    credits_first: bool


class Operation(_OperationFields):
    """One operation on a member's balances, checked as it is made (a malformed one is a programming error).

    A `NamedTuple` whose `__new__` validates, not a frozen dataclass (whose generated methods cost every cold
    value-moving path ~0.6 ms at import: docs/design.md)."""

    __slots__ = ()

    def __new__(
        cls,
        op_key: str,
        kind: str,
        postings: tuple[Posting, ...],
        memo: dict[str, str | int] | None = None,
        request: dict[str, str | int] | None = None,
        idem: Request | None = None,
        credits_first: bool = False,
    ) -> Operation:
        if not _OP_KEY.match(op_key):
            raise ValueError(f"bad op key {op_key!r}")
        if idem is not None and idem.key.op_key != op_key:
            raise ValueError("an operation's idempotency request is for its own op key")
        keys = [p.key for p in postings]
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("an operation posts to each account at most once, and to at least one")
        for p in postings:
            if (p.account == Account.PUNCH) != bool(p.card_id):
                raise ValueError("punch postings, and only they, name a card")
            if type(p.amount) is not int or p.amount == 0:
                raise ValueError(f"posting amounts are non-zero integers, got {p.amount!r}")
        return super().__new__(cls, op_key, kind, postings, {} if memo is None else memo, request, idem, credits_first)

    def _replace(self, **changes: Any) -> Operation:
        """A copy with `changes`, checked as a new one is (NamedTuple's own `_replace` would skip `__new__`)."""
        return Operation(**{**self._asdict(), **changes})

    def request_of(self, merchant_id: str, member_id: str) -> Request:
        """What identifies this operation for the member: see money/idempotency.py."""
        if self.idem is not None:
            return self.idem
        fields = (
            self.request
            if self.request is not None
            else {
                "postings": json.dumps(sorted((p.key, p.amount) for p in self.postings)),
                "memo": json.dumps(self.memo, sort_keys=True),
            }
        )
        return idempotency.request(idempotency.key(merchant_id, self.op_key, member_id), member_id, self.kind, fields)


class Posted(NamedTuple):
    op_key: str
    kind: str
    amounts: dict[Account, int]  # member accounts; a punch posting appears under Account.PUNCH
    created_at: datetime
    replayed: bool


def postings(amounts: dict[Account, int]) -> tuple[Posting, ...]:
    """The non-zero amounts as postings: an operation never posts 0 to an account."""
    return tuple(Posting(account, amount) for account, amount in amounts.items() if amount)


def replayed(record: OperationRecord) -> Posted:
    """The first result of an operation, from its record."""
    return Posted(
        str(record.op_key),
        str(record.kind),
        {Account(a): int(v) for a, v in record.amounts.as_dict().items()},
        record.created_at,
        replayed=True,
    )


def stage(
    tx: Transaction,
    merchant_id: str,
    member_id: str,
    op: Operation,
    prefix: str = "",
    member_actions: Sequence[Action] | None = None,
    member_condition: Condition | None = None,
    new_card: PunchCard | None = None,
    new_member: Member | None = None,
) -> datetime:
    """Add `op`'s writes for one member to `tx` without committing; labels start with `prefix`.

    For a second member in a transaction `post` commits (a referral rewards two):
    their cancelled labels reach the caller as `{prefix}entry:…` / `{prefix}balance…`.
    `new_member` is a member this operation creates (an import's opening balances): it is put, with
    `attribute_not_exists`, holding the operation's credits as its balances (one transaction may write an
    item once, so it cannot be put and then updated).
    """
    pk = member_pk(merchant_id, member_id)
    at = clock.now()
    req = op.request_of(merchant_id, member_id)
    idempotency.stage(tx, req, op.memo, {a.value: v for a, v in _amounts(op).items()}, at, prefix)
    for p in op.postings:
        tx.put(
            prefix + _ENTRY + p.key,
            LedgerEntry(
                pk,
                f"TXN#{op.op_key}#{p.key}",
                lsi1=f"LEDGER#{_GROUP_OF[p.account]}#{at.isoformat(timespec='microseconds')}#{op.op_key}#{p.key}",
                op_key=op.op_key,
                account=p.account.value,
                card_id=p.card_id,
                amount=p.amount,
                kind=op.kind,
                fingerprint=req.fingerprint,
                memo=dict(op.memo),
                created_at=at,
            ),
            condition=LedgerEntry.sk.does_not_exist(),
        )
    counters.ledger(tx, merchant_id, member_id, op, at)
    net: dict[Account, int] = {}
    debits: dict[Account, int] = {}
    for p in op.postings:
        if p.account != Account.PUNCH:
            net[p.account] = net.get(p.account, 0) + p.amount
            debits[p.account] = debits.get(p.account, 0) + max(0, -p.amount)
    if op.credits_first:
        debits = {account: max(0, -amount) for account, amount in net.items()}
    condition = Member.pk.exists()
    if any(p.amount > 0 for p in op.postings):
        # Nothing is credited to an erased member (data_rights/erasure.py), whatever races the erasure.
        condition &= Member.erased_at.does_not_exist()
    for account, debit in debits.items():
        if debit:  # what is taken must be there before anything this operation adds
            condition &= getattr(Member, account.value) >= debit
    if frozen.spends(op.kind, {account.value: debit for account, debit in debits.items()}):
        condition &= frozen.not_frozen()
    if member_condition is not None:
        condition &= member_condition
    actions = [getattr(Member, a.value).add(v) for a, v in net.items() if v] + list(member_actions or [])
    if new_member is not None:
        if any(debits.values()) or member_actions or member_condition is not None:
            raise ValueError("a new member's operation only credits")
        for account, amount in net.items():
            setattr(new_member, account.value, amount)
        tx.put(prefix + _BALANCE, new_member, condition=Member.pk.does_not_exist())
    elif actions:
        tx.update(prefix + _BALANCE, Member(pk, PROFILE), actions=actions, condition=condition)
    else:
        tx.check(prefix + _BALANCE, Member, pk, PROFILE, condition)
    for p in op.postings:
        if p.account != Account.PUNCH:
            continue
        from mini_program_api.db.punch_cards import PunchCard  # here: most operations post no punch

        if new_card is not None and new_card.card_id == p.card_id:
            new_card.uses_left = p.amount
            tx.put(prefix + _BALANCE + p.key, new_card, condition=PunchCard.sk.does_not_exist())
        else:
            tx.update(
                prefix + _BALANCE + p.key,
                PunchCard(pk, f"PUNCH#{p.card_id}"),
                actions=[PunchCard.uses_left.add(p.amount)],
                condition=PunchCard.pk.exists() & (PunchCard.uses_left >= max(0, -p.amount)),
            )
    if net:  # what the WeChat card shows may have changed: its sync is owed (wallet/outbox.py)
        points = net.get(Account.POINTS, 0)
        stored = net.get(Account.PRINCIPAL, 0) + net.get(Account.BONUS, 0)
        outbox.mark(tx, merchant_id, member_id, prefix, *outbox.record_texts(op.kind, points, stored))
    webhooks_outbox.ledger(tx, merchant_id, member_id, op, prefix)
    return at


def post(
    merchant_id: str,
    member_id: str,
    op: Operation,
    tx: Transaction | None = None,
    member_actions: Sequence[Action] | None = None,
    member_condition: Condition | None = None,
    new_card: PunchCard | None = None,
) -> Posted:
    """Apply `op` to the member's balances exactly once (see module docstring).

    `tx` carries the caller's other writes; `member_actions` are extra updates to the
    member row (one transaction may touch an item once) and `member_condition` an extra
    condition on it (optimistic checks: a failure is CONCURRENT_UPDATE). `new_card` is a
    punch card this operation issues: it is created with its punch posting as its balance.
    A `Cancelled` raised here names only the caller's own labelled writes in `tx`.
    """
    tx = tx or Transaction()
    pk = member_pk(merchant_id, member_id)
    at = stage(
        tx,
        merchant_id,
        member_id,
        op,
        member_actions=member_actions,
        member_condition=member_condition,
        new_card=new_card,
    )
    try:
        tx.commit()
    except Cancelled as exc:
        # Whatever failed, a record for this key means the operation already ran (or ran for another request).
        record = idempotency.first(op.request_of(merchant_id, member_id))
        if record is not None:
            return replayed(record)
        if any(label.startswith(_ENTRY) for label in exc.failed):
            # Entries under this op key but no record: never apply it again, never call it the same request.
            raise KabaoError("IDEMPOTENCY_KEY_REUSED", "this operation key was already used") from exc
        if _BALANCE in exc.failed and _frozen_spend(merchant_id, member_id, op):
            raise frozen.refused() from exc
        if member_condition is not None and _BALANCE in exc.failed:
            # The caller computed its amounts from the member row it pinned: the row changed since,
            # so the computation is stale, whatever the balances say now (retrying recomputes it).
            raise KabaoError("CONCURRENT_UPDATE", "the member changed during the operation, retry") from exc
        if any(label.startswith(_BALANCE) for label in exc.failed):
            raise _shortfall(pk, op) from exc
        raise
    return Posted(op.op_key, op.kind, _amounts(op), at, replayed=False)


def _frozen_spend(merchant_id: str, member_id: str, op: Operation) -> bool:
    """Whether `op` is a spend and the member is frozen now: its transaction failed on the freeze."""
    debits = {p.account.value: -p.amount for p in op.postings if p.amount < 0}
    if not frozen.spends(op.kind, debits):
        return False
    try:
        member = Member.get(member_pk(merchant_id, member_id), PROFILE, consistent_read=True)
    except Member.DoesNotExist:
        return False
    return frozen.is_frozen(member)


def _amounts(op: Operation) -> dict[Account, int]:
    """What `op` posts per account (a punch posting under Account.PUNCH)."""
    totals: dict[Account, int] = {}
    for p in op.postings:
        totals[p.account] = totals.get(p.account, 0) + p.amount
    return totals


def _balance(pk: str, p: Posting) -> int | None:
    from mini_program_api.db.punch_cards import PunchCard

    model: type[Member] | type[PunchCard] = PunchCard if p.card_id else Member
    try:
        item = model.get(pk, f"PUNCH#{p.card_id}" if p.card_id else PROFILE, consistent_read=True)
    except model.DoesNotExist:
        return None
    return int(item.uses_left) if isinstance(item, PunchCard) else int(getattr(item, p.account.value))


def _shortfall(pk: str, op: Operation) -> KabaoError:
    for p in op.postings:
        balance = _balance(pk, p)
        if balance is None:
            return KabaoError("PUNCH_CARD_NOT_FOUND" if p.card_id else "MEMBER_NOT_FOUND", "not found")
        same = [q.amount for q in op.postings if (q.account, q.card_id) == (p.account, p.card_id)]
        debit = max(0, -sum(same)) if op.credits_first else sum(-a for a in same if a < 0)
        if balance < debit:
            return KabaoError(_SHORTFALL_CODE[p.account], f"not enough {p.account.value}")
    # The balance was short at commit time but has been topped up since.
    return KabaoError("CONCURRENT_UPDATE", "balance changed during the operation, retry")


def balances_from_entries(merchant_id: str, member_id: str) -> dict[str, int]:
    """Sum of every entry per balance: what the balances must equal (audits, tests).

    Keys are the member accounts' names and `punch:{card_id}` per punch card."""
    totals = {account.value: 0 for account in MEMBER_ACCOUNTS}
    for entry in LedgerEntry.query(
        member_pk(merchant_id, member_id), LedgerEntry.sk.startswith("TXN#"), consistent_read=True
    ):
        key = f"punch:{entry.card_id}" if entry.card_id else entry.account
        totals[key] = totals.get(key, 0) + int(entry.amount)
    return totals


# Memo fields naming someone other than the entry's member: another member (a referral's `inviter`, `invitee`)
# or the staff member who adjusted the balance (`by`, a username). The merchant sees them; the member's own views
# of their ledger (GET /v1/me/ledger, the data export) leave them out.
_NAMES_ANOTHER = frozenset({"inviter", "invitee", "by"})


def members_memo(memo: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in memo.items() if k not in _NAMES_ANOTHER}


def members_entry_id(entry: LedgerEntry) -> str:
    """The entry's id as its member sees it: a digest of its key, which holds the operation's key, and an
    operation's key can name another member (`referral:{invitee}`) or carry an internal reference."""
    return hashlib.sha256(entry.sk.encode()).hexdigest()[:32]


def history(merchant_id: str, member_id: str, group: str, cursor: str | None, limit: int) -> paging.Page[LedgerEntry]:
    """A member's entries in one group, newest first; the cursor is opaque and bound to this member and group."""
    from mini_program_api.platform import paging  # here: the postings (every value-moving path's) page nothing

    prefix = f"LEDGER#{group}#"
    return paging.query(
        LedgerEntry.by_time.query,
        member_pk(merchant_id, member_id),
        {"sk": "TXN#", "lsi1": prefix},
        cursor,
        limit,
        range_key_condition=LedgerEntry.lsi1.startswith(prefix),
        scan_index_forward=False,
    )
