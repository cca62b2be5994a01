"""Referral rewards: when an invited member opens their card, both get the merchant's referral points, once.

One transaction credits the invitee (op `referral:welcome`: once per member, ever)
and the inviter (op `referral:{invitee_id}`), and counts the inviter's referrals
this month (`REFERRALS#{yyyy-mm}`, `n < referral_monthly_cap`). When the inviter
is at the cap, the invitee is still welcomed and the inviter's reward for this
invitee lapses for good. Who may invite whom is settled at login (members/login.py):
only a new member's first login counts, and never with their own code.
"""

from __future__ import annotations

from mini_program_api.db.counters import Counter
from mini_program_api.db.models import Member, Merchant, member_pk
from mini_program_api.db.transact import Cancelled, Transaction
from mini_program_api.members import due_dates
from mini_program_api.money import ledger
from mini_program_api.money.ledger import Account, Operation
from mini_program_api.platform import clock

REWARDED, CAPPED, ALREADY = "REWARDED", "CAPPED", "ALREADY"


def reward(merchant: Merchant, invitee: Member) -> str | None:
    """Pay the referral of an invitee whose card is open; None when there is none to pay."""
    points = int(merchant.referral_points)
    if not invitee.invited_by or invitee.invited_by == invitee.member_id or points <= 0 or not invitee.card_number:
        return None
    try:
        inviter = Member.get(member_pk(merchant.merchant_id, invitee.invited_by), "PROFILE", consistent_read=True)
    except Member.DoesNotExist:
        return None
    now = clock.now()
    month = clock.local_date(merchant.timezone, now).strftime("%Y-%m")
    postings = ledger.postings({Account.POINTS: points})
    welcome = Operation(
        "referral:welcome",
        "REFERRAL",
        postings,
        memo={"inviter": inviter.member_id},
        request={"inviter": inviter.member_id},
    )
    thanks = Operation(
        f"referral:{invitee.member_id}",
        "REFERRAL",
        postings,
        memo={"invitee": invitee.member_id},
        request={"invitee": invitee.member_id},
    )
    if inviter.erased_at is None:  # an erased inviter (data_rights/erasure.py) takes nothing: as at the cap
        tx = Transaction()
        ledger.stage(tx, merchant.merchant_id, inviter.member_id, thanks, prefix="inviter:")
        tx.update(
            "cap",
            Counter(member_pk(merchant.merchant_id, inviter.member_id), f"REFERRALS#{month}"),
            actions=[Counter.n.add(1)],
            condition=Counter.n.does_not_exist() | (Counter.n < int(merchant.referral_monthly_cap)),
        )
        due_dates.earned_points(tx, merchant, inviter, points, now, label="inviter:")
        due_dates.earned_points(tx, merchant, invitee, points, now)
        try:
            return (
                ALREADY if ledger.post(merchant.merchant_id, invitee.member_id, welcome, tx=tx).replayed else REWARDED
            )
        except Cancelled as exc:
            if "cap" not in exc.failed:
                raise
    tx = Transaction()
    due_dates.earned_points(tx, merchant, invitee, points, now)
    return ALREADY if ledger.post(merchant.merchant_id, invitee.member_id, welcome, tx=tx).replayed else CAPPED
