"""A number under a key, moved in transactions: claims, uses, referrals, notices (coupons/, members/).

A family of the table's models (see `models.py`): a module apart, so that a request builds only the model classes
it uses. Keys are documented in `schema.py`.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute

from mini_program_api.db.models import Item


class Counter(Item):
    n = NumberAttribute(default=0)
