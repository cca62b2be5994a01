"""The request shapes of the paths a cold container serves most: a member's login and the till's checkout.

They live apart from schemas.py so that those paths' first request creates two model classes, not every one
(creating schemas.py's forty-odd classes, validators deferred, was 35-45 ms of a cold first answer:
bench/cold_start.py). schemas.py re-exports them with `Strict` and the shared field shapes, so the rest of the
code and the OpenAPI document see one set of request models; endpoint.model() looks here first. A request
to either route is checked by hot_bodies.py instead, which holds the same rules without importing pydantic
(tests/unit/test_hot_bodies.py keeps the two equal).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    # defer_build: a model's validator is built on its first request, not at import for every handler.
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


_Code = Field(min_length=1, max_length=256)
# Fen in a template: no order is larger (checkout.MAX_AMOUNT), and DynamoDB stores at most 38 digits.
_MAX_FEN = 100_000_000
_MAX_POINTS = 10_000_000_000  # the largest order (_MAX_FEN) paid in points at the highest rate, 10 000 a yuan
_Id = Annotated[str, Field(min_length=1, max_length=64)]
_Pin = Annotated[str, Field(pattern=r"^[0-9]{6}$")]  # a spending password: never echoed in errors
_MemberCode = Annotated[str, Field(pattern=r"^[0-9]{18}$")]


class LoginBody(Strict):
    appid: str = Field(min_length=1, max_length=64)
    code: str = _Code
    invite_code: str | None = Field(default=None, min_length=1, max_length=32)
    scene: str | None = Field(default=None, max_length=128)


class CheckoutBody(Strict):
    member_code: _MemberCode
    amount: int = Field(le=_MAX_FEN, description="order amount, fen")  # at least 1: checkout's AMOUNT_OUT_OF_RANGE
    coupon_id: _Id | None = None
    points: int = Field(default=0, le=_MAX_POINTS)
    stored_value: int = Field(default=0, le=_MAX_FEN, description="fen of stored value to pay with")
    spending_password: _Pin | None = Field(default=None, description="typed at the till, where the merchant allows it")
