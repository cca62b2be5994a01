import { formatFen, formatRate } from "../../format";

export const REPORTS = ["sales", "stored-value", "points", "members", "funnel", "repurchase"] as const;
export type ReportName = (typeof REPORTS)[number];

/** Columns that hold fen (the rows' models, responses.py): shown in yuan; counts and points stay numbers. */
const MONEY = new Set([
  "gross", "tier_discount", "coupon_discount", "points_value", "bonus_used", "principal_used", "cash", "refund_gross",
  "refund_cash", "refund_bonus", "refund_principal", "discount", "cost_per_redemption", "topup_principal",
  "topup_bonus", "spent_principal", "spent_bonus", "sale_refund_principal", "sale_refund_bonus",
  "topup_refund_principal", "topup_refund_bonus", "topup_refund_reversed_principal", "topup_refund_reversed_bonus",
  "principal_in", "principal_out", "bonus_in", "bonus_out", "outstanding_principal", "outstanding_bonus",
]);
const RATES = new Set(["claim_conversion", "redemption_rate", "repeat_share"]);

export function cell(column: string, value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number" && MONEY.has(column)) return formatFen(value);
  if (typeof value === "number" && RATES.has(column)) return formatRate(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
