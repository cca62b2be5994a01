import type { components } from "../../api/client";
import { formatFen, formatRate } from "../../format";
import { funnelOption, liabilityOption, membersOption, salesOption } from "../dashboard/report";

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

type Rows = Record<string, unknown>[];
export interface ChartLabels {
  principal: string;
  bonus: string;
  views: string;
  claims: string;
  redemptions: string;
  issued: string;
  spent: string;
  expired: string;
  buyers: string;
  repeatBuyers: string;
}

/** Points issued, spent and expired per day, side by side. */
export function pointsOption(rows: components["schemas"]["PointsRow"][], days: string[], labels: ChartLabels) {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const series = (name: string, pick: (r: components["schemas"]["PointsRow"]) => number) => ({
    name,
    type: "bar",
    emphasis: { label: { show: true, position: "top" } },
    data: days.map((day) => (byDay.has(day) ? pick(byDay.get(day)!) : 0)),
  });
  return {
    legend: { data: [labels.issued, labels.spent, labels.expired] },
    grid: { left: 56, right: 16, bottom: 32, top: 32 },
    xAxis: { type: "category", data: days.map((d) => d.slice(5)) },
    yAxis: { type: "value", minInterval: 1 },
    series: [series(labels.issued, (r) => r.issued), series(labels.spent, (r) => r.spent), series(labels.expired, (r) => r.expired)],
  };
}

/** Buyers in the range and those who bought again. */
export function repurchaseOption(rows: components["schemas"]["RepurchaseRow"][], labels: ChartLabels) {
  const row = rows[0];
  return {
    grid: { left: 96, right: 32, bottom: 24, top: 16 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: [labels.buyers, labels.repeatBuyers] },
    series: [{ type: "bar", label: { show: true, position: "right" }, data: [row?.buyers ?? 0, row?.repeat_buyers ?? 0] }],
  };
}

/** Each report's chart, from the rows its table shows: the dashboard's charts where it has one. */
export function reportOption(name: ReportName, rows: Rows, days: string[], labels: ChartLabels) {
  switch (name) {
    case "sales":
      return salesOption(rows as components["schemas"]["SalesRow"][], days);
    case "stored-value":
      return liabilityOption(rows as components["schemas"]["StoredValueRow"][], days, labels);
    case "points":
      return pointsOption(rows as components["schemas"]["PointsRow"][], days, labels);
    case "members":
      return membersOption(rows as components["schemas"]["MembersRow"][], days);
    case "funnel":
      return funnelOption(rows as components["schemas"]["FunnelRow"][], labels);
    case "repurchase":
      return repurchaseOption(rows as components["schemas"]["RepurchaseRow"][], labels);
  }
}

export type Segment = components["schemas"]["IssueFilterBody"]["segment"] & string;

/** Members per RFM segment, in the API's order (the eight segments, the valuable ones first). */
export function segmentsOption(counts: Record<string, number>) {
  const names = Object.keys(counts);
  return {
    grid: { left: 72, right: 32, bottom: 24, top: 16 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: names },
    series: [{ type: "bar", label: { show: true, position: "right" }, data: names.map((name) => counts[name]) }],
  };
}
