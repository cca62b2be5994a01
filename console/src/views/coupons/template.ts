/**
 * A coupon template as the dialog edits it: the form, the API's rules (coupons/templates.py `validate`,
 * coupons/template_admin.py `change`) checked as the merchant types, and the bodies sent. Kept apart from the
 * dialog so the rules are unit-tested without a browser; the API stays the judge (it refuses what slips through).
 */
import type { components } from "../../api/client";
import { formatFen, yuanToFen } from "../../format";

export type Template = components["schemas"]["AdminTemplateView"];
export type CreateBody = components["schemas"]["CouponTemplateBody"];
export type PatchBody = components["schemas"]["TemplatePatchBody"];
export type Kind = "FULL_REDUCTION" | "DISCOUNT" | "GIFT" | "CASH";

const MIN_VALID_DAYS = 3; // WeChat: every coupon is usable for at least 3 days
const MAX_STOCK = 10_000_000;
const DAY_MS = 86_400_000;
// Asia/Shanghai has had no daylight saving since 1991: a fixed +08:00 turns the merchant's wall clock into an instant.
const MERCHANT_OFFSET = "+08:00";
const MERCHANT_OFFSET_MS = 8 * 3_600_000;

export interface TemplateForm {
  kind: Kind;
  name: string;
  threshold: string;
  amount: string;
  rate: string;
  maxDiscount: string;
  giftName: string;
  totalStock: string;
  perMember: string;
  /** days after claim, or a fixed window typed as the merchant's wall clock ("2026-12-10T09:00") */
  validity: "days" | "fixed";
  days: string;
  validFrom: string;
  validUntil: string;
  storeIds: string[];
  tierIds: string[];
  windowStart: string;
  windowEnd: string;
  /** set: a points-mall reward */
  pointsPrice: string;
  listed: boolean;
}

export function blankForm(reward = false): TemplateForm {
  return {
    kind: reward ? "GIFT" : "FULL_REDUCTION",
    name: "",
    threshold: "",
    amount: "",
    rate: "85",
    maxDiscount: "",
    giftName: "",
    totalStock: "100",
    perMember: "1",
    validity: "days",
    days: "30",
    validFrom: "",
    validUntil: "",
    storeIds: [],
    tierIds: [],
    windowStart: "",
    windowEnd: "",
    pointsPrice: reward ? "100" : "",
    listed: true,
  };
}

const yuan = (fen: number | null | undefined) => (fen ? `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}` : "");

/** What a saved template shows in the dialog when it is edited. */
export function formOf(template: Template): TemplateForm {
  return {
    kind: template.kind as Kind,
    name: template.name,
    threshold: yuan(template.threshold),
    amount: yuan(template.amount),
    rate: template.rate == null ? "" : String(template.rate),
    maxDiscount: yuan(template.max_discount),
    giftName: template.gift_name ?? "",
    totalStock: String(template.total_stock),
    perMember: String(template.per_member_limit),
    validity: template.valid_until ? "fixed" : "days",
    days: template.days_after_claim == null ? "" : String(template.days_after_claim),
    validFrom: toMerchantLocal(template.valid_from),
    validUntil: toMerchantLocal(template.valid_until),
    storeIds: [...template.store_ids],
    tierIds: [...template.tier_ids],
    windowStart: template.daily_window?.[0] ?? "",
    windowEnd: template.daily_window?.[1] ?? "",
    pointsPrice: template.points_price == null ? "" : String(template.points_price),
    listed: template.listed,
  };
}

/** "2026-12-10T09:00" (the merchant's wall clock) → "2026-12-10T09:00:00+08:00"; null when incomplete. */
export function fromMerchantLocal(local: string): string | null {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(local) ? `${local}:00${MERCHANT_OFFSET}` : null;
}

/** An instant → the merchant's wall clock as a datetime-local input shows it. */
export function toMerchantLocal(iso: string | null | undefined): string {
  if (!iso) return "";
  const at = new Date(iso).getTime();
  return Number.isNaN(at) ? "" : new Date(at + MERCHANT_OFFSET_MS).toISOString().slice(0, 16);
}

const int = (text: string) => (/^\d{1,11}$/.test(text.trim()) ? Number(text.trim()) : null);
const instant = (local: string) => {
  const iso = fromMerchantLocal(local);
  return iso === null ? null : new Date(iso).getTime();
};

/** The rules a new template breaks, as message keys under `coupons.rules` (empty: the API will take it). */
export function createProblems(form: TemplateForm, now: Date = new Date()): string[] {
  const found: string[] = [];
  if (!form.name.trim()) found.push("name");
  if (form.kind === "FULL_REDUCTION") {
    const threshold = yuanToFen(form.threshold);
    const amount = yuanToFen(form.amount);
    if (threshold === null || amount === null || amount <= 0 || amount * 2 > threshold) found.push("amount");
  } else if (form.kind === "CASH") {
    if ((yuanToFen(form.amount) ?? 0) <= 0) found.push("cash");
  } else if (form.kind === "GIFT") {
    if (!form.giftName.trim()) found.push("giftName");
  } else {
    const rate = int(form.rate);
    if (rate === null || rate < 50 || rate > 99) found.push("rate");
    if ((yuanToFen(form.maxDiscount) ?? 0) <= 0) found.push("maxDiscount");
  }
  if (form.validity === "days") {
    const days = int(form.days);
    if (days === null || days < MIN_VALID_DAYS || days > 3650) found.push("days");
  } else {
    const from = instant(form.validFrom);
    const until = instant(form.validUntil);
    if (from === null || until === null || until - Math.max(from, now.getTime()) < MIN_VALID_DAYS * DAY_MS) {
      found.push("window");
    }
  }
  const stock = int(form.totalStock);
  if (stock === null || stock < 1 || stock > MAX_STOCK) found.push("stock");
  const perMember = int(form.perMember);
  if (perMember === null || perMember < 1 || perMember > 100) found.push("perMember");
  if (form.windowStart || form.windowEnd) {
    if (!form.windowStart || !form.windowEnd || form.windowStart >= form.windowEnd) found.push("hours");
  }
  if (form.pointsPrice !== "") {
    const price = int(form.pointsPrice);
    if (price === null || price < 1 || price > MAX_STOCK) found.push("pointsPrice");
  }
  return found;
}

/** What may change after issue (name, more stock, a later end, listed): the rules that change breaks. */
export function editProblems(form: TemplateForm, original: Template, now: Date = new Date()): string[] {
  const found: string[] = [];
  if (!form.name.trim()) found.push("name");
  const stock = int(form.totalStock);
  if (stock === null || stock < original.total_stock || stock > MAX_STOCK) found.push("stockGrows");
  if (original.valid_until) {
    const until = instant(form.validUntil);
    const before = new Date(original.valid_until).getTime();
    if (until === null || until < before || (until !== before && until <= now.getTime())) found.push("later");
  }
  return found;
}

export function createBody(form: TemplateForm): CreateBody {
  const terms: Partial<CreateBody> =
    form.kind === "FULL_REDUCTION"
      ? { threshold: yuanToFen(form.threshold) ?? 0, amount: yuanToFen(form.amount) ?? 0 }
      : form.kind === "CASH"
        ? { amount: yuanToFen(form.amount) ?? 0 }
        : form.kind === "GIFT"
          ? { gift_name: form.giftName.trim() }
          : { rate: int(form.rate), max_discount: yuanToFen(form.maxDiscount) };
  const validity: Partial<CreateBody> =
    form.validity === "days"
      ? { days_after_claim: int(form.days) }
      : { valid_from: fromMerchantLocal(form.validFrom), valid_until: fromMerchantLocal(form.validUntil) };
  return {
    name: form.name.trim(),
    kind: form.kind,
    total_stock: int(form.totalStock) ?? 0,
    per_member_limit: int(form.perMember) ?? 0,
    store_ids: form.storeIds,
    tier_ids: form.tierIds,
    daily_window: form.windowStart && form.windowEnd ? [form.windowStart, form.windowEnd] : null,
    points_price: form.pointsPrice === "" ? null : int(form.pointsPrice),
    listed: form.listed,
    ...terms,
    ...validity,
  };
}

/** Only what changed: an unchanged field is left out, so the API records nothing for it. */
export function patchBody(form: TemplateForm, original: Template): PatchBody {
  const body: PatchBody = {};
  if (form.name.trim() !== original.name) body.name = form.name.trim();
  const stock = int(form.totalStock);
  if (stock !== null && stock !== original.total_stock) body.total_stock = stock;
  const until = fromMerchantLocal(form.validUntil);
  if (original.valid_until && until && new Date(until).getTime() !== new Date(original.valid_until).getTime()) {
    body.valid_until = until;
  }
  if (form.listed !== original.listed) body.listed = form.listed;
  return body;
}

/** A template's terms in a table cell: "¥100.00 - ¥20.00", "85% ≤ ¥10.00", "¥5.00" or the gift. */
export function termsOf(row: Template): string {
  if (row.kind === "FULL_REDUCTION") return `${formatFen(row.threshold ?? 0)} - ${formatFen(row.amount ?? 0)}`;
  if (row.kind === "DISCOUNT") return `${row.rate}% ≤ ${formatFen(row.max_discount ?? 0)}`;
  if (row.kind === "CASH") return formatFen(row.amount ?? 0);
  return row.gift_name ?? "";
}
