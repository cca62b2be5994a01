"""The outbox's consumer: push a member's absolute values to their WeChat card (card/membercard/updateuser).

Two ways in, one `push`: the table's stream (functions/wallet_sync.py, in AWS; tests and `make dev`
read DynamoDB Local's stream and call the same handler) for speed, and a sweep of the sync job's
list (due_index, a Query) every minute for whatever the stream path did not finish.

Why it cannot lose an update or send older-after-newer:
- the values pushed are read after the member's `version` is read, so they are at least that new;
- one consumer per member at a time (a conditional lease, longer than any WeChat call may take);
- `pushed` only rises, and the item leaves the list only if no change came during the push (its
  version is still the one pushed); otherwise it stays due and the next pass sends the newer values;
- a WeChat error or silence keeps the item on the list, deferred with a backoff that starts at one
  minute and is capped at eight (jobs/due.py), so a change reaches WeChat within 30 minutes of WeChat
  coming back; an error WeChat will keep giving (a refused card) is kept on the item for the admin.
A deleted card (user_del_card) or a member without a WeChat card has nothing to push: the item
just leaves the list.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mini_program_api.db.transact import update_if
from mini_program_api.jobs import due, runner
from mini_program_api.members import members, tiers
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock
from mini_program_api.platform.errors import KabaoError
from mini_program_api.wallet import setup
from mini_program_api.wallet.models import MEMBER_SK, SYNC_JOB, MemberWallet

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=30)  # > the WeChat timeout (5 s) plus a token refresh
RETRY_FIRST = timedelta(minutes=1)
RETRY_MOST = timedelta(minutes=8)
BATCH = 500

PUSHED, SETTLED, BUSY, NOTHING = "PUSHED", "SETTLED", "BUSY", "NOTHING"


@dataclass
class Report(runner.Report):
    pushed: int = 0
    settled: int = 0
    busy: int = 0

    def count(self, outcome: str) -> None:
        if outcome == PUSHED:
            self.pushed += 1
        elif outcome == SETTLED:
            self.settled += 1
        elif outcome == BUSY:
            self.busy += 1


def _read(pk: str) -> MemberWallet | None:
    try:
        return MemberWallet.get(pk, MEMBER_SK, consistent_read=True)
    except MemberWallet.DoesNotExist:
        return None


def _owed(item: MemberWallet) -> bool:
    return item.pushed is None or int(item.pushed) < int(item.version)


def push(pk: str, now: datetime | None = None) -> str:
    """Bring one member's WeChat card up to date; raises the error (already deferred) when WeChat fails."""
    now = now or clock.now()
    item = _read(pk)
    if item is None or item.due_sk is None:
        return NOTHING
    if item.status != "ACTIVE" or not item.code or not _owed(item):
        # Nothing to push: off the list, unless a change came since this read (then it stays owed).
        return SETTLED if update_if(item, due.unslot(MemberWallet), MemberWallet.version == item.version) else BUSY
    holder = uuid.uuid4().hex
    if not update_if(
        item,
        [MemberWallet.lease_holder.set(holder), MemberWallet.lease_until.set(now + LEASE)],
        MemberWallet.lease_until.does_not_exist() | (MemberWallet.lease_until < now),
    ):
        return BUSY
    item = _read(pk)
    assert item is not None
    version = int(item.version)
    try:
        _send(item)
    except Exception as exc:
        update_if(
            item,
            [
                MemberWallet.lease_holder.remove(),
                MemberWallet.lease_until.remove(),
                MemberWallet.last_error.set(due.failure(exc)),
            ],
            MemberWallet.lease_holder == holder,
        )
        due.failed(SYNC_JOB, _read(pk), now, exc, RETRY_FIRST, RETRY_MOST)
        raise
    done = [
        MemberWallet.pushed.set(version),
        MemberWallet.pushed_at.set(clock.now()),
        MemberWallet.lease_holder.remove(),
        MemberWallet.lease_until.remove(),
        MemberWallet.last_error.remove(),
    ]
    never_lower = (MemberWallet.lease_holder == holder) & (
        MemberWallet.pushed.does_not_exist() | (MemberWallet.pushed < version)
    )
    # Nothing newer came: the change texts are told, and a later push (WeChat's own change undone, say)
    # must not announce them again.
    told = [MemberWallet.record_bonus.remove(), MemberWallet.record_balance.remove()]
    if not update_if(item, done + told + due.unslot(MemberWallet), never_lower & (MemberWallet.version == version)):
        update_if(item, done, never_lower)  # changed meanwhile: stays due for the newer values
    return PUSHED


def _send(item: MemberWallet) -> None:
    """The member's values now (read after `item.version`), absolute, with the last change's text."""
    merchant_id, member_id = str(item.merchant_id), str(item.member_id)
    card = setup.get(merchant_id)
    if card.card_id != item.card_id:
        raise KabaoError("WALLET_CARD_NOT_READY", "the member's WeChat card is not the merchant's current card")
    member = members.get(merchant_id, member_id)
    merchant = merchants.get(merchant_id)
    values: dict[str, Any] = {
        "bonus": int(member.points),
        "balance": int(member.principal) + int(member.bonus),
        "custom_field_value1": tiers.current(merchant, member.tier_id).name,
        "notify_optional": {
            "is_notify_bonus": bool(item.record_bonus),
            "is_notify_balance": bool(item.record_balance),
            "is_notify_custom_field1": False,
        },
    }
    if item.record_bonus:
        values["record_bonus"] = item.record_bonus
    if item.record_balance:
        values["record_balance"] = item.record_balance
    setup.client(card).update_user(str(item.card_id), str(item.code), **values)


def sweep(now: datetime | None = None, limit: int = BATCH, deadline: float | None = None) -> Report:
    """The scheduled pass over the sync job's list (jobs/runner.py): one member's failure never stops the
    others; `push` has deferred it with the sync's own backoff."""
    at = now or clock.now()
    report = Report(SYNC_JOB)

    def handle(pk: str, sk: str) -> None:
        report.count(push(pk, at))

    return runner.due_list(report, MemberWallet, handle, at, limit, deadline, deferred_by_handle=True)


def stream_records(records: Iterable[dict[str, Any]], now: datetime | None = None) -> list[str]:
    """Handle a batch of the table's stream records; returns the sequence numbers to report as failed.

    Only records of a wallet item that is due now and owes a push matter (a deferred item waits for the
    sweep, so WeChat's backoff holds). A member appearing many times in the batch is pushed once. A push
    WeChat failed is deferred, not failed here: only an unexpected error (a bug) reports its record, so
    Lambda retries that one record rather than the batch."""
    now = now or clock.now()
    latest: dict[str, str] = {}
    for record in records:
        change = record.get("dynamodb", {})
        image = change.get("NewImage") or {}
        if image.get("sk", {}).get("S") != MEMBER_SK or "due_sk" not in image:
            continue
        if image["due_sk"]["S"] > due.stamp(now):
            continue
        latest[image["pk"]["S"]] = str(change.get("SequenceNumber", ""))
    failed = []
    for pk, sequence in latest.items():
        try:
            push(pk, now)
        except KabaoError:
            continue  # deferred on the item; the sweep retries it with backoff
        except Exception:  # noqa: BLE001 - a bug: reported for this record alone
            log.exception("wallet sync failed")
            failed.append(sequence)
    return failed
