"""Put cardholders whose card opened before the `cardholders` index existed on it (once, after deploying it).

    python -m infra.deploy.cardholders        # with the stack's environment, as infra/deploy/onboard.py

Issue jobs find members by filter through that sparse index (db/schema.py); card openings set it from
now on. This one-off Scan (the only one in kabao, run by hand) sets `cards_pk`/`cards_sk` on every
member row with a card and without them, each update conditional on exactly that, so it is safe to run
again or while members open cards.
"""

from __future__ import annotations

import sys


def backfill() -> int:
    """How many member rows were put on the index."""
    from mini_program_api.db.models import Member, cardholders_pk
    from mini_program_api.db.transact import update_if

    done = 0
    for member in Member.scan(
        Member.card_number.exists() & Member.cards_pk.does_not_exist() & (Member.sk == "PROFILE")
    ):
        if "#MEM#" not in member.pk:
            continue
        done += update_if(
            member,
            [
                Member.cards_pk.set(cardholders_pk(member.merchant_id, member.member_id)),
                Member.cards_sk.set(member.member_id),
            ],
            Member.card_number.exists() & Member.cards_pk.does_not_exist(),
        )
    return done


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"{backfill()} cardholders put on the cardholders index")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
