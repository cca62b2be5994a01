"""Request shapes. Strict: unknown fields and wrong JSON types are 400s, never coerced."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from mini_program_api.platform import clock

# Login's and checkout's shapes, with Strict and the field shapes they share, live in hot_schemas.py (a cold
# first request builds only them); re-exported here as the one set of request models.
from mini_program_api.routes.hot_schemas import (  # noqa: F401
    _MAX_FEN,
    _MAX_POINTS,
    CheckoutBody,
    LoginBody,
    Strict,
    _Code,
    _Id,
    _MemberCode,
    _Pin,
)


def _text(shape: str, pattern: str) -> BeforeValidator:
    """Only text of that shape goes on to be parsed: pydantic's lax date parsing reads a number, or a string of
    digits, as a Unix time (`0` was 1970-01-01), and Python's fromisoformat takes `20261203` and `2026-W01-1`."""
    matcher = re.compile(pattern)

    def check(value: object) -> object:
        if not isinstance(value, str) or not matcher.fullmatch(value):
            raise ValueError(f"must be {shape}")
        return value

    return BeforeValidator(check)


# Every date and time a client sends: ISO-8601 text, as JSON has no date type (strict=False lets pydantic parse
# the text, which _text has checked; tests/infra/test_request_schemas.py walks every request model for them).
_IsoDate = Annotated[date, _text("a date, YYYY-MM-DD", r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), Field(strict=False)]
_IsoTime = Annotated[
    AwareDatetime,
    _text(
        "an ISO-8601 time with its offset, e.g. 2026-12-01T00:00:00+08:00",
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:[0-9]{2})",
    ),
    Field(strict=False),
]


# A cursor is ours, base64url or a member id: in its alphabet any cursor fits in a URL API Gateway takes (a
# kilobyte of other characters, percent-encoded, was 12 KB).
_Cursor = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]*$")]


class PhoneBody(Strict):
    code: str = _Code
    spending_password: _Pin | None = Field(default=None, description="to change a number already bound")


class CardBody(Strict):
    agreed_terms_version: str = Field(min_length=1, max_length=32)
    name: str | None = Field(default=None, min_length=1, max_length=32)
    birthday: str | None = Field(default=None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

    @field_validator("birthday")
    @classmethod
    def _real_past_date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        day = date.fromisoformat(value)  # ValueError -> validation error
        if not date(1900, 1, 1) <= day <= clock.now().date():
            raise ValueError("birthday must be a past date after 1900")
        return value


class PageQuery(BaseModel):
    """A paged list: `cursor` from the previous page, at most `limit` items."""

    # Query strings are text: numbers are parsed, unknown parameters still refused.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    cursor: _Cursor | None = Field(default=None, max_length=1024)
    limit: int = Field(default=20, ge=1, le=100)


class LedgerQuery(PageQuery):
    account: Literal["points", "balance", "growth", "punch"]


class TopupOrderBody(Strict):
    plan_id: str | None = Field(default=None, min_length=1, max_length=64)
    amount: _Fen | None = Field(default=None, gt=0, description="fen, for a custom amount")

    @model_validator(mode="after")
    def _one_of(self) -> TopupOrderBody:
        if (self.plan_id is None) == (self.amount is None):
            raise ValueError("give exactly one of plan_id or amount")
        return self


_Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# db.segments.RFM_SEGMENTS spelled out, as a Literal must be (tests/integration/test_issue_to_segment.py compares them)
_Segment = Literal["重要价值", "重要保持", "重要发展", "重要挽留", "一般价值", "一般保持", "一般发展", "一般挽留"]

# Bounded integers: every integer a client sends has both bounds (tests/infra/test_request_schemas.py walks them).
# DynamoDB stores numbers of at most 38 digits, so an unbounded one was a 500 in the write's transaction; a number
# past the business's largest is a typo or a probe. The domain narrows these where its rule is tighter.
_MAX_COUNT = 10_000_000  # stock, limits, purchases (coupons' MAX_STOCK)
_MAX_DAYS = 3650  # ten years: the longest validity, expiry or dormancy a merchant sets
_MAX_MULTIPLIER = 1000  # percent of the usual points (merchants/member_days.py MAX_MULTIPLIER)
_Fen = Annotated[int, Field(ge=0, le=_MAX_FEN)]
_Points = Annotated[int, Field(ge=0, le=_MAX_POINTS)]
_Count = Annotated[int, Field(ge=0, le=_MAX_COUNT)]
_Days = Annotated[int, Field(ge=0, le=_MAX_DAYS)]
_Percent = Annotated[int, Field(ge=0, le=100)]  # of a price paid: 100 is no discount
_Multiplier = Annotated[int, Field(ge=0, le=_MAX_MULTIPLIER)]
_Weekday = Annotated[int, Field(ge=1, le=7)]  # ISO: 1 Monday .. 7 Sunday


class CouponTemplateBody(Strict):
    name: str = Field(min_length=1, max_length=64)
    kind: Literal["FULL_REDUCTION", "DISCOUNT", "GIFT", "CASH"]
    total_stock: _Count
    per_member_limit: _Count
    threshold: int = Field(default=0, ge=0, le=_MAX_FEN)
    amount: int = Field(default=0, ge=0, le=_MAX_FEN)
    rate: _Percent | None = None
    max_discount: _Fen | None = None
    gift_name: str | None = Field(default=None, min_length=1, max_length=64)
    # ISO-8601 with an offset, e.g. 2026-12-01T00:00:00+08:00 (JSON has no datetime type).
    valid_from: _IsoTime | None = None
    valid_until: _IsoTime | None = None
    days_after_claim: _Days | None = None
    store_ids: list[_Id] = Field(default_factory=list, max_length=200)
    daily_window: tuple[_Clock, _Clock] | None = Field(default=None, strict=False)
    tier_ids: list[_Id] = Field(default_factory=list, max_length=20)
    points_price: _Points | None = None
    listed: bool = True

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _storable(cls, value: datetime | None) -> datetime | None:
        # Stored in UTC: a time near year 1 or 9999 would overflow on conversion (a 500).
        if value is not None and not 1970 <= value.year <= 9000:
            raise ValueError("must be between the years 1970 and 9000")
        return value


class CouponsQuery(PageQuery):
    status: Literal["available", "used", "expired"] = "available"


_Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")]


class StaffLoginBody(Strict):
    merchant_id: _Slug
    username: _Slug
    password: str = Field(min_length=1, max_length=128)


class StoreBody(Strict):
    store_id: _Slug
    name: str = Field(min_length=1, max_length=64)


class StaffBody(Strict):
    username: _Slug
    password: str = Field(min_length=1, max_length=128)
    role: Literal["staff", "admin"]
    store_id: _Slug | None = None


class GiftRedeemBody(Strict):
    member_code: _MemberCode
    coupon_id: _Id


class PunchUseBody(Strict):
    member_code: _MemberCode
    card_id: _Id


class PunchPlanBody(Strict):
    name: str = Field(min_length=1, max_length=64)
    visits: int = Field(ge=1, le=1000)
    valid_days: int = Field(ge=1, le=3650)
    price: int | None = Field(default=None, gt=0, le=10_000_000)
    store_ids: list[_Slug] = Field(default_factory=list, max_length=200)


class PunchGiveBody(Strict):
    plan_id: _Id


class AuditQuery(PageQuery):
    """`day`: that merchant-local day, oldest first; without it, every day, newest first."""

    day: str | None = Field(default=None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    limit: int = Field(default=100, ge=1, le=100)


class SubscriptionsBody(Strict):
    """wx.requestSubscribeMessage's answer: the templates accepted, and those refused with WeChat's word for it."""

    template_ids: list[_Id] = Field(default_factory=list, max_length=10)
    refused: dict[_Id, Literal["REJECT", "BAN", "FILTER"]] = Field(default_factory=dict, max_length=10)

    @model_validator(mode="after")
    def _some(self) -> SubscriptionsBody:
        if not self.template_ids and not self.refused:
            raise ValueError("name at least one template, accepted or refused")
        return self


class TierBody(Strict):
    tier_id: _Slug
    name: str = Field(min_length=1, max_length=32)
    threshold: int = Field(ge=0, le=10**12)
    discount_rate: _Percent = 100
    points_multiplier: _Multiplier = 100
    birthday_template_id: _Id | None = None
    monthly_template_ids: list[_Id] = Field(default_factory=list, max_length=10)


class TiersBody(Strict):
    tiers: list[TierBody] = Field(min_length=1, max_length=20)


class SettingsBody(Strict):
    points_per_yuan: int | None = Field(default=None, ge=1, le=10000)
    earn_points_per_yuan: int | None = Field(default=None, ge=0, le=1000)
    growth_per_yuan: int | None = Field(default=None, ge=0, le=1000)
    points_expiry: Literal["NONE", "ROLLING", "YEAR_END"] | None = None
    points_expiry_days: int | None = Field(default=None, ge=30, le=3650)
    tier_review: bool | None = None
    referral_points: int | None = Field(default=None, ge=0, le=100000)
    referral_monthly_cap: int | None = Field(default=None, ge=0, le=1000)
    birthday_on: Literal["MONTH", "DAY"] | None = None
    dormant_days: int | None = Field(default=None, ge=7, le=3650)
    wakeup_cooldown_days: int | None = Field(default=None, ge=1, le=3650)
    wakeup_template_id: _Id | None = None
    message_templates: (
        dict[
            Literal["coupon_expiry", "points_expiry", "birthday", "wake_up", "spending_locked", "password_changed"], _Id
        ]
        | None
    ) = None
    sign_in_points: int | None = Field(default=None, ge=0, le=10000)
    sign_in_growth: int | None = Field(default=None, ge=0, le=10000)
    prepaid_cap: int | None = Field(default=None, ge=1, le=500_000, description="fen; the legal ceiling is 5000 yuan")
    terms_version: _Slug | None = None
    spending_password_required: bool | None = None
    password_free_max: int | None = Field(default=None, ge=0, le=_MAX_FEN)
    till_password: bool | None = None
    welcome_points: int | None = Field(default=None, ge=0, le=100_000, description="points given when a card opens")
    welcome_template_ids: list[_Id] | None = Field(
        default=None, max_length=5, description="coupons given when a card opens; [] for none"
    )
    staff_may_freeze: bool | None = Field(default=None, description="staff may freeze a member's balances")


class Patch(Strict):
    """A PATCH: fields left out or null stay as they are, and one with nothing to change is a 400."""

    @model_validator(mode="after")
    def _something(self) -> Patch:
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("give at least one field to change")
        return self


class TemplatePatchBody(Patch):
    """What is safe to change after issue (coupons/template_admin.py); at least one."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    total_stock: int | None = Field(default=None, ge=1, le=10_000_000, description="the new total; only grows")
    valid_until: _IsoTime | None = None
    listed: bool | None = None

    _storable = field_validator("valid_until")(CouponTemplateBody._storable.__func__)  # type: ignore[attr-defined]


class TopupPlanBody(Strict):
    plan_id: _Slug | None = None
    amount: int = Field(ge=1, le=500_000, description="fen")
    bonus: int = Field(default=0, ge=0, le=500_000, description="fen")


class TopupPlanPatchBody(Patch):
    amount: int | None = Field(default=None, ge=1, le=500_000)
    bonus: int | None = Field(default=None, ge=0, le=500_000)


class SetSpendingPasswordBody(Strict):
    phone_code: str = _Code  # a fresh getPhoneNumber code for the bound phone
    password: _Pin


class ChangeSpendingPasswordBody(Strict):
    old_password: _Pin
    password: _Pin


class FreeLimitBody(Strict):
    free_limit: int = Field(ge=0, le=_MAX_FEN, description="fen per payment without the password")
    # Raising the limit needs one of them (lowering needs neither): the token alone must not weaken the password.
    password: _Pin | None = Field(default=None, description="the spending password, to raise the limit")
    phone_code: str | None = Field(default=None, min_length=1, max_length=256, description="or a fresh phone code")


class ConfirmBody(Strict):
    password: _Pin


class PunchBuyBody(Strict):
    password: _Pin | None = Field(default=None, description="the spending password, above the password-free limit")


class StorePatchBody(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=64)


class StaffPasswordBody(Strict):
    password: str = Field(min_length=1, max_length=128)


_Reason = Field(min_length=1, max_length=200, description="why: shown in the member's audit trail")


class MemberSearchQuery(PageQuery):
    """Exactly one key (a phone number, a card number, a scanned member code or a member id: one member), or a
    paged list by `name` (its beginning) and/or `tag_id`, or with none of these every cardholder, paged."""

    phone: str | None = Field(default=None, pattern=r"^[0-9]{5,20}$", description="as bound: no country code")
    card_number: str | None = Field(default=None, pattern=r"^[0-9]{6,32}$")
    member_code: _MemberCode | None = None
    member_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    name: str | None = Field(default=None, min_length=1, max_length=32, description="the name's beginning")
    tag_id: _Id | None = None


class AdminLedgerQuery(PageQuery):
    account: Literal["points", "balance", "growth", "punch"]


class AdjustmentBody(Strict):
    account: Literal["points", "growth", "bonus"]
    amount: int = Field(ge=-100_000_000, le=100_000_000, description="signed; points, growth or fen of bonus")
    reason: str = _Reason


class TagBody(Strict):
    name: str = Field(min_length=1, max_length=20, description="unique per merchant (case and width ignored)")


class TagBulkBody(Strict):
    action: Literal["add", "remove"]
    member_ids: list[_Id] = Field(min_length=1, max_length=100)


class MemberNameBody(Strict):
    name: str = Field(min_length=1, max_length=32)
    reason: str = _Reason


class FreezeBody(Strict):
    reason: str = Field(min_length=1, max_length=200, description="why: shown to the member and in the audit trail")


class IssueCouponBody(Strict):
    template_id: _Id
    reason: str = _Reason


class PunchVisitsBody(Strict):
    visits: int = Field(ge=1, le=1000)
    reason: str = _Reason


class CounterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    member_code: _MemberCode


class StoreSalesQuery(PageQuery):
    """`day`: the merchant-local day whose sales the till lists (today by default)."""

    day: _IsoDate | None = None


class QuoteBody(Strict):
    """What POST /v1/staff/checkout takes, without the spending password: a quote never checks it."""

    member_code: _MemberCode
    amount: int = Field(le=_MAX_FEN, description="order amount, fen")  # at least 1: checkout's AMOUNT_OUT_OF_RANGE
    coupon_id: _Id | None = None
    points: int = Field(default=0, le=_MAX_POINTS)
    stored_value: int = Field(default=0, le=_MAX_FEN, description="fen of stored value to pay with")


class MemberDayBody(Strict):
    day_id: _Slug
    name: str = Field(min_length=1, max_length=32)
    multiplier: int = Field(gt=100, le=1000, description="percent of the usual points: 200 is double points")
    weekdays: list[_Weekday] = Field(default_factory=list, max_length=7, description="ISO: 1 Monday .. 7 Sunday")
    dates: list[_IsoDate] = Field(default_factory=list, max_length=366, description="YYYY-MM-DD, merchant time")
    tier_ids: list[_Slug] = Field(default_factory=list, max_length=20, description="none: every tier")
    starts_on: _IsoDate | None = None
    ends_on: _IsoDate | None = None


class MemberDaysBody(Strict):
    """The whole list (PUT): [] ends every member day; the field itself is required."""

    member_days: list[MemberDayBody] = Field(max_length=20)


class IssueFilterBody(Strict):
    """Every criterion given must hold; at least one. `segment`: the members the last RFM scoring filed there."""

    tier_ids: list[_Id] = Field(default_factory=list, max_length=20)
    dormant: bool | None = None
    birthday_month: int | None = Field(default=None, ge=1, le=12)
    segment: _Segment | None = None
    tag_ids: list[_Id] = Field(default_factory=list, max_length=20, description="carries at least one of them")


class IssueJobBody(Strict):
    template_id: _Id
    member_ids: list[_Id] | None = Field(default=None, min_length=1, max_length=1000)
    filter: IssueFilterBody | None = None

    @model_validator(mode="after")
    def _one_of(self) -> IssueJobBody:
        if (self.member_ids is None) == (self.filter is None):
            raise ValueError("give exactly one of member_ids or filter")
        return self


# --- member imports (member_import/) ---------------------------------------------------------------


class MemberImportUploadBody(Strict):
    file_name: str = Field(min_length=1, max_length=200, description="the file's name, shown in the console")


class MemberImportBody(Strict):
    upload_id: str = Field(pattern=r"^U[0-9a-f]{32}$", description="from POST /v1/admin/member-imports/uploads")
    file_name: str = Field(min_length=1, max_length=200)
    merge_rule: Literal["refuse", "add"] = Field(
        description="a phone that is already a member: refuse the row, or add its balances to the member"
    )


class ImportRowsQuery(PageQuery):
    problems_only: bool = Field(default=False, description="only rows in error, refused or failed")


class MemberJobBody(Strict):
    """A job over a filter's members (every criterion given must hold; none: every cardholder)."""

    kind: Literal["TAG", "UNTAG", "EXPORT"]
    tag_id: _Id | None = Field(default=None, description="TAG and UNTAG: the tag")
    format: Literal["csv", "xlsx"] = "csv"
    unmasked: bool = Field(default=False, description="EXPORT: phone numbers in the clear (audited)")
    filter: IssueFilterBody = Field(default_factory=lambda: IssueFilterBody())
    name: str | None = Field(default=None, min_length=1, max_length=32, description="the name's beginning")


# --- WeChat 卡包 (wallet/) -----------------------------------------------------------------------------

_WalletRef = Field(min_length=5, max_length=2048, pattern=r"^[a-z]+:.+$")
_WalletText = Field(min_length=1, max_length=1024)
_WalletUrl = Field(min_length=8, max_length=512, pattern=r"^https?://")


class WalletCardBody(Strict):
    """PUT replaces the whole set-up: every required field, every time (an empty body is a 400)."""

    oa_appid: str = Field(min_length=4, max_length=64, pattern=r"^wx[0-9A-Za-z]+$")
    oa_secret_ref: str = _WalletRef
    event_token_ref: str = _WalletRef
    aes_key_ref: str | None = Field(default=None, min_length=5, max_length=2048, pattern=r"^[a-z]+:.+$")
    brand_name: str = Field(min_length=1, max_length=36)
    title: str = Field(min_length=1, max_length=27)
    logo_url: str = _WalletUrl
    color: str = Field(pattern=r"^Color0[1-9][0-9]$")
    background_pic_url: str | None = Field(default=None, min_length=8, max_length=512, pattern=r"^https?://")
    prerogative: str = _WalletText
    notice: str = Field(min_length=1, max_length=48)
    description: str = _WalletText
    service_phone: str | None = Field(default=None, min_length=3, max_length=24, pattern=r"^[0-9+\-]+$")
    show_points: bool = True
    show_balance: bool = True
    show_tier: bool = True


class ActivateBody(Strict):
    card_id: str = Field(min_length=1, max_length=64)
    encrypt_code: str = Field(min_length=1, max_length=512)
    activate_ticket: str = Field(min_length=1, max_length=512)
    agreed_terms_version: str = Field(min_length=1, max_length=32)


# --- reports (routes/reports.py) -------------------------------------------------------------------


class RangeQuery(BaseModel):
    """A report's merchant-local days: `from`, `to` (YYYY-MM-DD, each defaults to today, at most 366 days)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    start: str | None = Field(default=None, alias="from", max_length=10)
    end: str | None = Field(default=None, alias="to", max_length=10)


class SalesQuery(RangeQuery):
    store_id: str | None = Field(default=None, min_length=1, max_length=64)


class SegmentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    segment: _Segment
    cursor: _Cursor | None = Field(default=None, max_length=64)
    limit: int = Field(default=20, ge=1, le=100)


class ThresholdsBody(Strict):
    """Four ascending cut points per measure; an omitted one uses the merchant's own quintiles. The
    whole configuration (PUT): `{}` means quintiles for all three."""

    r: list[_Days] | None = Field(default=None, min_length=4, max_length=4, description="recency, days")
    f: list[_Count] | None = Field(default=None, min_length=4, max_length=4, description="purchases")
    m: list[_Fen] | None = Field(default=None, min_length=4, max_length=4, description="fen spent")


# --- the member's own data (data_rights/) ---------------------------------------------------------


class DataExportQuery(PageQuery):
    """No `section`: the profile and the first page of every section. A `section` with its `cursor`: its next page."""

    section: (
        Literal[
            "ledger",
            "coupons",
            "punch_cards",
            "orders",
            "topups",
            "referrals",
            "consents",
            "messages",
            "subscriptions",
            "audit",
        ]
        | None
    ) = None
    limit: int = Field(default=100, ge=1, le=200)

    @model_validator(mode="after")
    def _cursor_names_its_section(self) -> DataExportQuery:
        if self.cursor and not self.section:
            raise ValueError("a cursor belongs to one section: name it with `section`")
        return self


class ErasureBody(Strict):
    reason: str = _Reason


# --- webhooks (webhooks/) ------------------------------------------------------------------------------

_WebhookEvent = Literal[
    "member.created",
    "card.opened",
    "tier.changed",
    "points.changed",
    "stored_value.changed",
    "coupon.claimed",
    "coupon.redeemed",
    "topup.paid",
    "topup.refunded",
    "checkout.completed",
    "checkout.refunded",
    "member.frozen",
    "member.unfrozen",
    "member.erased",
]
_WebhookUrl = Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$")]


class WebhookEndpointBody(Strict):
    url: _WebhookUrl = Field(description="https://…; plain http only to loopback on a local stage")
    events: list[_WebhookEvent] = Field(min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=200)


class WebhookEndpointPatch(Strict):
    """What to change; what is left out stays. `enabled: false` pauses deliveries (they wait, up to 24 h)."""

    url: _WebhookUrl | None = None
    events: list[_WebhookEvent] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None
