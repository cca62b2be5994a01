"""The wallet routes' request and response shapes (strict, as routes/schemas.py)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from ..routes.schemas import Strict

_Ref = Field(min_length=5, max_length=2048, pattern=r"^[a-z]+:.+$")
_Text = Field(min_length=1, max_length=1024)
_Url = Field(min_length=8, max_length=512, pattern=r"^https?://")


class WalletCardBody(Strict):
    """PUT replaces the whole set-up: every required field, every time (an empty body is a 400)."""

    oa_appid: str = Field(min_length=4, max_length=64, pattern=r"^wx[0-9A-Za-z]+$")
    oa_secret_ref: str = _Ref
    event_token_ref: str = _Ref
    aes_key_ref: str | None = Field(default=None, min_length=5, max_length=2048, pattern=r"^[a-z]+:.+$")
    brand_name: str = Field(min_length=1, max_length=36)
    title: str = Field(min_length=1, max_length=27)
    logo_url: str = _Url
    color: str = Field(pattern=r"^Color0[1-9][0-9]$")
    background_pic_url: str | None = Field(default=None, min_length=8, max_length=512, pattern=r"^https?://")
    prerogative: str = _Text
    notice: str = Field(min_length=1, max_length=48)
    description: str = _Text
    service_phone: str | None = Field(default=None, min_length=3, max_length=24, pattern=r"^[0-9+\-]+$")
    show_points: bool = True
    show_balance: bool = True
    show_tier: bool = True


class ActivateBody(Strict):
    card_id: str = Field(min_length=1, max_length=64)
    encrypt_code: str = Field(min_length=1, max_length=512)
    activate_ticket: str = Field(min_length=1, max_length=512)
    agreed_terms_version: str = Field(min_length=1, max_length=32)


class WalletCardView(BaseModel):
    oa_appid: str
    oa_secret_ref: str
    event_token_ref: str
    aes_key_ref: str | None
    brand_name: str
    title: str
    logo_url: str
    color: str
    background_pic_url: str | None
    prerogative: str
    notice: str
    description: str
    service_phone: str | None
    show_points: bool
    show_balance: bool
    show_tier: bool
    card_id: str | None
    review: str
    review_reason: str | None
    version: int
    pushed: bool
    push_error: str | None


class ActivationParams(BaseModel):
    app_id: str
    extra_data: dict[str, str]


class AddCardParams(BaseModel):
    card_id: str
    card_ext: str


class MemberWalletView(BaseModel):
    card_id: str
    review: str
    in_wallet: bool
    code: str | None
    activation: ActivationParams | None = None
    add_card: AddCardParams | None = None
