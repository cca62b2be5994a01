"""Response shapes, one model per answer: the contract the OpenAPI spec publishes and the local stages enforce.

Money is integer fen; times are ISO-8601 with the merchant's offset. Every field a view writes is declared
(`extra="forbid"`), so a field added to a view without its model fails the tests rather than reaching a client
unannounced. A field that can be null is still always present (required and nullable), as the views write it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Fen = int
Time = AwareDatetime


class ErrorDetail(View):
    code: str = Field(description="a stable code, e.g. VALIDATION_ERROR; each operation lists the codes it answers")
    message: str
    details: dict[str, Any] | None = Field(default=None, description="e.g. `fields` for a VALIDATION_ERROR")


class ErrorResponse(View):
    """Every 4xx (and a 5xx, which is a bug): `{"error": {"code", "message"}}`."""

    error: ErrorDetail


# --- members -------------------------------------------------------------------------------------


class TierView(View):
    id: str
    name: str
    threshold: int = Field(description="growth needed")
    discount_rate: int = Field(description="percent of the price paid, 100 = no discount")
    points_multiplier: int = Field(description="percent of the base points earned")


class AdminTierView(View):
    """A tier as PUT /v1/admin/tiers takes it: named `tier_id`, as every request names a tier."""

    tier_id: str
    name: str
    threshold: int = Field(description="growth needed")
    discount_rate: int = Field(description="percent of the price paid, 100 = no discount")
    points_multiplier: int = Field(description="percent of the base points earned")
    birthday_template_id: str | None
    monthly_template_ids: list[str]


class TiersView(View):
    tiers: list[AdminTierView]


class CardView(View):
    number: str
    opened_at: Time | None
    name: str | None
    birthday: date | None


class FrozenView(View):
    at: Time
    reason: str


class MemberView(View):
    member_id: str
    invite_code: str | None
    card: CardView | None = Field(description="null until the card is opened")
    phone: str | None = Field(description="masked, e.g. 138****0000")
    tier: TierView | None
    next_tier: TierView | None
    growth_to_next_tier: int | None
    tier_growth: int
    growth: int
    points: int
    principal: Fen
    bonus: Fen
    balance: Fen = Field(description="principal + bonus")
    frozen: FrozenView | None = Field(description="set while points and stored value are frozen: nothing spends them")


class FreezeView(View):
    """A member's freeze state after a freeze or an unfreeze (staff see no more of the member than this)."""

    member_id: str
    frozen: FrozenView | None


class MeView(MemberView):
    coupon_count: int


class PhoneBoundView(MemberView):
    token: str | None = Field(
        description="a new session when the number found the member's imported card (member import): the card, "
        "balances and tier are that member's from now on; use this token instead of the login's"
    )


class MerchantView(View):
    name: str
    terms_version: str
    timezone: str


class LoginView(View):
    token: str
    expires_in: int = Field(description="seconds")
    member: MemberView
    merchant: MerchantView
    created: bool = Field(description="true on the member's first login")
    invite: str | None = Field(description="ACCEPTED, why an invite code was rejected, or null")


class MemberCodeView(View):
    code: str = Field(description="18 digits for staff to scan; not the card number")
    expires_at: Time
    expires_in: int = Field(description="seconds")


class LedgerEntryView(View):
    id: str
    account: str
    card_id: str | None
    amount: int = Field(description="signed: fen for balance accounts, points, growth or punch uses")
    kind: str
    memo: dict[str, Any]
    created_at: Time


class LedgerPage(View):
    entries: list[LedgerEntryView]
    cursor: str | None = Field(description="pass back for the next page; null on the last")


class SignInView(View):
    date: date
    already_signed_in: bool
    points_earned: int
    growth_earned: int
    tier_upgraded: bool
    member: MemberView


class GrantsView(View):
    grants: dict[str, int] = Field(description="subscribe-message template id -> messages the member granted")


# --- stored value --------------------------------------------------------------------------------


class TopupPlanView(View):
    plan_id: str
    amount: Fen
    bonus: Fen


class AmountRange(View):
    min: Fen
    max: Fen


class TopupPlansView(View):
    plans: list[TopupPlanView]
    custom_amount: AmountRange
    prepaid_cap: Fen


class AdminTopupPlansView(View):
    plans: list[TopupPlanView]


class TopupOrderView(View):
    order_id: str
    status: Literal["PENDING", "PAID", "CLOSED", "REFUNDING", "REFUNDED", "REFUND_ABNORMAL", "REFUND_FAILED"]
    amount: Fen
    bonus: Fen
    plan_id: str | None
    created_at: Time
    expires_at: Time
    paid_at: Time | None
    refund_amount: Fen | None
    refund_error: str | None


class TopupOrderCreated(TopupOrderView):
    pay_params: dict[str, str] | None = Field(
        description="the arguments of wx.requestPayment; null when the order is no longer PENDING (its "
        "Idempotency-Key sent again after it was paid or closed)"
    )


# --- coupons and rewards -------------------------------------------------------------------------


class CouponTerms(View):
    kind: Literal["FULL_REDUCTION", "DISCOUNT", "GIFT", "CASH"]
    name: str
    threshold: Fen | None = Field(default=None, description="FULL_REDUCTION and CASH")
    amount: Fen | None = Field(default=None, description="FULL_REDUCTION and CASH")
    rate: int | None = Field(default=None, description="DISCOUNT: percent paid")
    max_discount: Fen | None = Field(default=None, description="DISCOUNT")
    gift_name: str | None = Field(default=None, description="GIFT")
    store_ids: list[str]
    daily_window: list[str] | None


class TemplateView(CouponTerms):
    template_id: str
    valid_from: Time | None
    valid_until: Time | None
    days_after_claim: int | None
    per_member_limit: int
    tier_ids: list[str]
    points_price: int | None


class CreatedTemplateView(TemplateView):
    total_stock: int
    stock_shards: int


class AdminTemplateView(TemplateView):
    status: str
    listed: bool
    total_stock: int
    stock_shards: int
    remaining: int
    claimed: int
    used: int = Field(description="coupons of it used and not given back by a refund")
    created_at: Time
    ended_at: Time | None


class AdminTemplatePage(View):
    templates: list[AdminTemplateView]
    cursor: str | None


class OfferView(TemplateView):
    claimed: int = Field(description="how many the member already holds")


class OffersView(View):
    offers: list[OfferView]


class RewardView(TemplateView):
    reward_id: str
    redeemed: int


class RewardsView(View):
    rewards: list[RewardView]


class CouponView(CouponTerms):
    coupon_id: str
    template_id: str
    status: str
    valid_from: Time
    valid_until: Time
    claimed_at: Time
    used_at: Time | None
    used_store_id: str | None


class CouponPage(View):
    coupons: list[CouponView]
    cursor: str | None


# --- punch cards ---------------------------------------------------------------------------------


class PunchPlanView(View):
    plan_id: str
    name: str
    visits: int
    valid_days: int
    price: Fen | None
    store_ids: list[str]


class PunchPlansView(View):
    plans: list[PunchPlanView]


class PunchPlanPage(View):
    plans: list[PunchPlanView]
    cursor: str | None


class PunchCardView(View):
    card_id: str
    plan_id: str
    name: str
    visits: int
    uses_left: int
    status: str
    store_ids: list[str]
    valid_until: Time
    issued_at: Time


class PunchCardPage(View):
    punch_cards: list[PunchCardView]
    cursor: str | None


# --- the counter ---------------------------------------------------------------------------------


class StaffLoginView(View):
    token: str
    expires_in: int
    role: Literal["staff", "admin"]
    store_id: str | None


class PricedView(View):
    """What a sale charges and earns: the quote shows it before, the receipt after, from one pricing."""

    member_id: str
    amount: Fen
    tier_discount: Fen
    coupon_id: str | None
    coupon_discount: Fen
    points_used: int
    points_value: Fen
    bonus_used: Fen
    principal_used: Fen
    stored_value_used: Fen
    cash_due: Fen
    points_earned: int
    growth_earned: int
    tier_before: str
    tier_after: str
    upgraded: bool
    member_day_id: str | None = Field(description="the member day that multiplied the points earned")
    member_day_multiplier: int | None = Field(description="its percent of the usual points, e.g. 200")


class ReceiptView(PricedView):
    """A checkout as the till shows it, after the sale or its refund."""

    order_id: str
    store_id: str
    staff_id: str
    status: Literal["PAID", "REFUNDED"]
    points_clawed_back: int | None
    growth_clawed_back: int | None
    coupon_restored: bool | None
    principal_over_cap: Fen | None
    cash_refund: Fen | None = Field(description="on a refund: what the till pays back in cash")
    created_at: Time
    refunded_at: Time | None


class SpendingPasswordState(View):
    is_set: bool
    required: bool
    free_limit: Fen
    effective_free_limit: Fen
    free_limit_ceiling: Fen
    locked_until: Time | None


class PendingPaymentView(View):
    confirmation_id: str
    store_id: str
    store_name: str
    amount: Fen
    stored_value: Fen
    points: int
    coupon_id: str | None
    expires_at: Time


class PendingPaymentsView(View):
    payments: list[PendingPaymentView]


# --- the back office -----------------------------------------------------------------------------


class StoreView(View):
    store_id: str
    name: str
    closed_at: Time | None = Field(default=None, description="set: closed for good")


class StorePage(View):
    stores: list[StoreView]
    cursor: str | None


class StaffView(View):
    username: str
    role: Literal["staff", "admin"]
    store_id: str | None
    disabled: bool = False
    locked_until: Time | None = Field(default=None, description="set while too many wrong passwords lock it")
    created_at: Time | None = None


class StaffPage(View):
    staff: list[StaffView]
    cursor: str | None


class AuditRecordView(View):
    at: Time
    actor: str
    role: str
    store_id: str | None
    action: str
    target: str
    member_id: str | None = Field(default=None, description="the member the action concerns")
    detail: dict[str, Any]


class AuditDayView(View):
    records: list[AuditRecordView]
    cursor: str | None = Field(default=None, description="pass back for the next page; null on the last")


class SettingsView(View):
    """Every setting PATCH /v1/admin/settings takes, with its current value (null: not set)."""

    points_per_yuan: int | None
    earn_points_per_yuan: int | None
    growth_per_yuan: int | None
    points_expiry: Literal["NONE", "ROLLING", "YEAR_END"] | None
    points_expiry_days: int | None
    tier_review: bool | None
    referral_points: int | None
    referral_monthly_cap: int | None
    birthday_on: Literal["MONTH", "DAY"] | None
    dormant_days: int | None
    wakeup_cooldown_days: int | None
    wakeup_template_id: str | None
    message_templates: dict[str, str] | None
    sign_in_points: int | None
    sign_in_growth: int | None
    prepaid_cap: Fen | None
    terms_version: str | None
    spending_password_required: bool | None
    password_free_max: Fen | None
    till_password: bool | None
    welcome_points: int | None
    welcome_template_ids: list[str] | None
    staff_may_freeze: bool | None


class OpenAPIDocument(BaseModel):
    """This document (OpenAPI 3.1)."""

    model_config = ConfigDict(extra="allow", strict=True)

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# --- operations: finding and helping a member, the counter, member read-backs --------------------


class AdminMemberView(MeView):
    created_at: Time
    tags: list[TagRef]


class TagRef(View):
    tag_id: str
    name: str


class TagView(View):
    tag_id: str
    name: str
    members: int = Field(description="members carrying it")
    created_at: Time


class TagPage(View):
    tags: list[TagView]
    cursor: str | None


class TagBulkView(View):
    changed: list[str] = Field(description="members the request tagged (or untagged)")
    unchanged: list[str] = Field(description="already so")
    not_found: list[str] = Field(description="not this merchant's members")


class MemberJobView(View):
    job_id: str
    kind: Literal["TAG", "UNTAG", "EXPORT"]
    status: Literal["RUNNING", "DONE", "FAILED"]
    error: str | None = Field(description="why a FAILED job stopped: TAG_NOT_FOUND (its tag was deleted)")
    filter: dict[str, Any]
    tag_id: str | None
    format: Literal["csv", "xlsx"] | None
    unmasked: bool | None
    scanned: int = Field(description="cardholders looked at so far")
    matched: int = Field(description="of those, members the filter chose")
    changed: int = Field(description="tag jobs: members tagged or untagged by this job")
    download_url: str | None = Field(description="a finished export's file (an admin's request)")
    created_at: Time
    finished_at: Time | None


class FileView(RootModel[str]):
    """A file: CSV text, or an XLSX workbook's bytes (application/octet-stream)."""


class MemberJobPage(View):
    jobs: list[MemberJobView]
    cursor: str | None


class MemberSummaryView(View):
    """A search hit: enough to tell members apart at the desk."""

    member_id: str
    card_number: str | None
    name: str | None
    phone: str | None = Field(description="masked")
    tier: TierView | None
    points: int
    balance: Fen
    tags: list[TagRef]
    frozen: bool


class MemberSearchView(View):
    members: list[MemberSummaryView] = Field(description="the member found (or none), or a page of a name/tag list")
    cursor: str | None = Field(description="the next page of a name/tag list; null at its end and for a key")


class AdjustmentView(View):
    adjustment_id: str
    account: Literal["points", "growth", "bonus"]
    amount: int
    reason: str
    replayed: bool = Field(description="true: this key's first result, nothing changed now")
    member: AdminMemberView


class WithdrawnView(View):
    """The till stopped waiting for the member's phone: WITHDRAWN (it can no longer be confirmed), or DONE (the
    member confirmed first: `receipt` is the sale)."""

    status: Literal["WITHDRAWN", "DONE"]
    receipt: ReceiptView | None


class ReceiptPage(View):
    orders: list[ReceiptView]
    cursor: str | None


class TopupPage(View):
    topups: list[TopupOrderView]
    cursor: str | None


class CounterMemberView(View):
    """The scanned member as the cashier sees them, with what is usable at this store now."""

    member_id: str
    card_number: str | None
    name: str | None
    phone: str | None = Field(description="masked")
    tier: TierView | None
    points: int
    principal: Fen
    bonus: Fen
    balance: Fen
    coupons: list[CouponView]
    coupons_more: bool = Field(description="more coupons than were read: the member's list has them all")
    punch_cards: list[PunchCardView]
    punch_cards_more: bool


class QuoteView(PricedView):
    """What POST /v1/staff/checkout would charge and earn for the same body now; nothing is written."""

    confirmation_required: bool = Field(description="the member must confirm with their spending password")


class MessageTemplatesView(View):
    templates: dict[str, str] = Field(description="notice kind -> subscribe-message template id")


# --- pushing value: welcome gift, member days, issue jobs ------------------------------------------


class WelcomeGiftView(View):
    points: int
    coupon_ids: list[str]
    sold_out: list[str] = Field(description="welcome templates left out: no stock when the card opened")
    unavailable: list[str] = Field(description="welcome templates left out: paused, ended, expired or gone")


class CardOpenedView(MemberView):
    welcome_gift: WelcomeGiftView | None = Field(description="what opening the card gave; null: no gift was set")


class MemberDayView(View):
    day_id: str
    name: str
    multiplier: int = Field(description="percent of the usual points: 200 is double points")
    weekdays: list[int]
    dates: list[str]
    tier_ids: list[str]
    starts_on: str | None
    ends_on: str | None


class MemberDaysView(View):
    member_days: list[MemberDayView]


class IssueJobView(View):
    job_id: str
    template_id: str
    status: Literal["RUNNING", "DONE", "STOPPED"]
    member_count: int | None = Field(description="members listed; null for a filter job")
    filter: dict[str, Any] | None
    scanned: int = Field(description="members looked at so far")
    issued: int = Field(description="coupons given: what the job's members hold")
    failed: int = Field(description="members who could not be given one (see the results)")
    last_error: str | None = Field(description="why the job is waiting (a paused template, the database), if it is")
    created_by: str
    created_at: Time
    finished_at: Time | None


class IssueJobPage(View):
    jobs: list[IssueJobView]
    cursor: str | None


class IssueResultView(View):
    member_id: str
    status: Literal["ISSUED", "FAILED"]
    coupon_id: str | None
    error: str | None
    at: Time


class IssueResultPage(View):
    results: list[IssueResultView]
    cursor: str | None


# --- member imports (member_import/) ---------------------------------------------------------------


class MemberImportUploadView(View):
    upload_id: str
    url: str = Field(description="PUT the file here: a presigned S3 URL in AWS, this API's own upload path locally")
    method: Literal["PUT"]
    headers: dict[str, str] = Field(description="headers to send with the PUT")
    authorized: bool = Field(description="send the admin's bearer token with the PUT (the local store only)")
    expires_at: Time


class MemberImportUploadedView(View):
    upload_id: str
    size: int


class MemberImportView(View):
    import_id: str
    file_name: str
    file_format: Literal["csv", "xlsx"]
    merge_rule: Literal["refuse", "add"]
    status: Literal["CHECKING", "CHECKED", "RUNNING", "DONE", "FAILED"]
    file_error: str | None = Field(description="why the whole file was refused (FAILED): see row 0 of the rows")
    encoding: str | None
    rows_read: int = Field(description="rows the check has read")
    valid: int
    errors: int = Field(description="rows with errors: the run skips them")
    to_create: int
    to_merge: int
    to_refuse: int
    imported: int = Field(description="members created by the run")
    merged: int = Field(description="rows added to an existing member (merge rule add)")
    refused: int
    skipped: int = Field(description="rows in error, not applied")
    failed: int
    last_error: str | None = Field(description="why the import is waiting (the database), if it is")
    created_by: str
    created_at: Time
    checked_at: Time | None
    started_at: Time | None
    finished_at: Time | None


class MemberImportPage(View):
    imports: list[MemberImportView]
    cursor: str | None


class ImportProblemView(View):
    column: str
    code: str
    message: str


class ImportRowView(View):
    row: int = Field(description="data rows from 1; row 0 is the header (a file-wide error)")
    phone: str | None = Field(description="masked")
    action: Literal["CREATE", "MERGE", "REFUSE", "ERROR"] = Field(description="what the check found")
    errors: list[ImportProblemView]
    outcome: Literal["IMPORTED", "MERGED", "REFUSED", "SKIPPED", "FAILED"] | None = Field(
        description="what the run did"
    )
    outcome_code: str | None
    member_id: str | None
    at: Time


class ImportRowPage(View):
    rows: list[ImportRowView]
    cursor: str | None


# --- WeChat 卡包 (wallet/) -----------------------------------------------------------------------------


class PlainText(RootModel[str]):
    """A text/plain answer for WeChat's servers: the echo of a URL check, or "success" for a push."""


class WalletCardView(View):
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


class ActivationParams(View):
    app_id: str
    extra_data: dict[str, str]


class AddCardParams(View):
    card_id: str
    card_ext: str


class MemberWalletView(View):
    card_id: str
    review: str
    in_wallet: bool
    code: str | None
    activation: ActivationParams | None = None
    add_card: AddCardParams | None = None


# --- reports (routes/reports.py; CSV with `Accept: text/csv`: one line per row) ----------------------


class FunnelRow(View):
    day: str
    template_id: str
    views: int
    people: int
    claims: int
    claimers: int
    redemptions: int
    discount: Fen
    claim_conversion: float | None
    redemption_rate: float | None
    cost_per_redemption: Fen | None


class SalesRow(View):
    day: str
    store_id: str
    staff_id: str
    orders: int
    gross: Fen
    tier_discount: Fen
    coupon_discount: Fen
    points_value: Fen
    bonus_used: Fen
    principal_used: Fen
    cash: Fen
    refunds: int
    refund_gross: Fen
    refund_cash: Fen
    refund_bonus: Fen
    refund_principal: Fen


class StoredValueRow(View):
    day: str
    topup_principal: Fen
    topup_bonus: Fen
    spent_principal: Fen
    spent_bonus: Fen
    sale_refund_principal: Fen
    sale_refund_bonus: Fen
    topup_refund_principal: Fen
    topup_refund_bonus: Fen
    topup_refund_reversed_principal: Fen
    topup_refund_reversed_bonus: Fen
    imported_principal: Fen = Field(description="opening principal brought by member imports (ledger kind IMPORT)")
    imported_bonus: Fen = Field(description="opening bonus brought by member imports")
    principal_in: Fen
    principal_out: Fen
    bonus_in: Fen
    bonus_out: Fen
    outstanding_principal: Fen
    outstanding_bonus: Fen


class PointsRow(View):
    day: str
    issued: int
    spent: int
    expired: int
    reversed: int  # points refunded sales had earned, taken back
    returned: int  # points refunded sales had spent, given back
    imported: int = Field(description="of `issued`, the opening points member imports brought (ledger kind IMPORT)")
    outstanding: int
    by_kind: dict[str, int]


class MembersRow(View):
    day: str
    scene: str
    new_members: int
    cards_opened: int
    sign_ins: int | None


class RepurchaseRow(View):
    buyers: int
    repeat_buyers: int
    repeat_share: float | None
    median_days_between: int | None


class MemberSnapshot(View):
    counted_at: str
    members: int
    tiers: dict[str, int]
    active: int
    dormant: int


class ReportView(View):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    start: str = Field(alias="from")
    end: str = Field(alias="to")


class FunnelReport(ReportView):
    rows: list[FunnelRow]


class SalesReport(ReportView):
    rows: list[SalesRow]


class StoredValueReport(ReportView):
    rows: list[StoredValueRow]


class PointsReport(ReportView):
    rows: list[PointsRow]


class MembersReport(ReportView):
    rows: list[MembersRow]
    snapshot: MemberSnapshot | None


class RepurchaseReport(ReportView):
    rows: list[RepurchaseRow]  # one row: the whole window


class LiabilityCheckView(View):
    status: Literal["RUNNING", "MATCH", "MISMATCH", "INCONCLUSIVE"]
    expected: dict[str, int]
    summed: dict[str, int]
    members: int
    started_at: str
    finished_at: str | None


class SegmentCountsView(View):
    segments: dict[str, int]
    thresholds: dict[str, list[int]]
    finished_at: str | None
    phase: str


class SegmentMemberView(View):
    member_id: str
    segment: str
    r: int
    f: int
    m: int
    recency_days: int
    frequency: int
    monetary: Fen


class SegmentMembersView(View):
    members: list[SegmentMemberView]
    cursor: str | None


class ThresholdsView(View):
    r: list[int] | None
    f: list[int] | None
    m: list[int] | None


# --- the member's own data (data_rights/) ---------------------------------------------------------


class ExportSection(View):
    items: list[dict[str, Any]] = Field(description="the section's records as stored, less keys and other people's ids")
    cursor: str | None = Field(description="pass back with `section` for the next page; null on the last")


class DataExportView(View):
    member_id: str
    exported_at: Time
    profile: dict[str, Any] | None = Field(
        description="the member row, phone in clear; null on a section's later pages"
    )
    sections: dict[str, ExportSection]


class ErasureView(View):
    member_id: str = Field(description="the anonymous id the ledger, orders and top-ups stay under")
    deleted: bool
    erased_at: Time
    points_forfeited: int
    coupons_forfeited: int
    punch_visits_forfeited: int


class ConsentView(View):
    kind: Literal["TERMS", "SUBSCRIBE"]
    terms_version: str | None
    template_id: str | None
    decision: Literal["AGREE", "ACCEPT", "REJECT", "BAN", "FILTER"]
    at: Time


class ConsentsPage(View):
    consents: list[ConsentView]
    cursor: str | None = Field(description="pass back for the next page; null on the last")


# --- webhooks (webhooks/) ------------------------------------------------------------------------------


class WebhookEndpointView(View):
    endpoint_id: str
    url: str
    description: str | None
    events: list[str]
    enabled: bool
    secret_hint: str = Field(description="the secret's first characters, to tell which one it is")
    version: int
    created_at: Time
    updated_at: Time


class WebhookEndpointCreated(WebhookEndpointView):
    secret: str = Field(description="`whsec_…`, shown only in this answer: keep it to verify signatures")


class WebhookEndpointPage(View):
    endpoints: list[WebhookEndpointView]
    cursor: str | None


class WebhookAttemptView(View):
    delivery_id: str
    event_id: str
    type: str
    member_id: str
    status: Literal["DELIVERED", "FAILED", "DEAD"]
    response_code: int | None
    latency_ms: int
    attempt: int
    error: str | None
    at: Time


class WebhookAttemptPage(View):
    deliveries: list[WebhookAttemptView]
    cursor: str | None


class WebhookQueued(View):
    event_id: str = Field(description="the `webhook-id` it is sent with, by the next run of the delivery job")
