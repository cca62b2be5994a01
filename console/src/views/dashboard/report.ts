/**
 * The dashboard's numbers and charts, computed from the reports API's rows by plain functions (testable without
 * a browser): a KPI is a sum over the range's rows, an "outstanding" figure is the range's last day.
 */
import type { components } from "../../api/client";

type SalesRow = components["schemas"]["SalesRow"];
type MembersRow = components["schemas"]["MembersRow"];
type StoredValueRow = components["schemas"]["StoredValueRow"];
type FunnelRow = components["schemas"]["FunnelRow"];

export interface Reports {
  sales: SalesRow[];
  members: MembersRow[];
  storedValue: StoredValueRow[];
  funnel: FunnelRow[];
}

export interface Kpis {
  sales: number;
  orders: number;
  refunds: number;
  newMembers: number;
  cardsOpened: number;
  topups: number;
  principal: number;
  bonus: number;
  claims: number;
  redemptions: number;
}

/** A bar shows its value when hovered or focused: the console ships no tooltip component (components/EChart.vue). */
const HOVER = { emphasis: { label: { show: true, position: "inside" } } } as const;

const sum = <T>(rows: T[], pick: (row: T) => number) => rows.reduce((total, row) => total + pick(row), 0);
/** The members report gives each day a `*` row (the day's totals) and then one row per entry scene. */
export const ALL_SCENES = "*";

const totals = (rows: MembersRow[]) => rows.filter((r) => r.scene === ALL_SCENES);

export function kpis(reports: Reports): Kpis {
  const lastDay = [...reports.storedValue].sort((a, b) => a.day.localeCompare(b.day)).at(-1);
  return {
    sales: sum(reports.sales, (r) => r.gross),
    orders: sum(reports.sales, (r) => r.orders),
    refunds: sum(reports.sales, (r) => r.refund_gross),
    newMembers: sum(totals(reports.members), (r) => r.new_members),
    cardsOpened: sum(totals(reports.members), (r) => r.cards_opened),
    topups: sum(reports.storedValue, (r) => r.topup_principal),
    principal: lastDay?.outstanding_principal ?? 0,
    bonus: lastDay?.outstanding_bonus ?? 0,
    claims: sum(reports.funnel, (r) => r.claims),
    redemptions: sum(reports.funnel, (r) => r.redemptions),
  };
}

/** Sales per day, one stacked bar series per store (yuan). */
export function salesOption(rows: SalesRow[], days: string[]) {
  const stores = [...new Set(rows.map((r) => r.store_id))].sort();
  return {
    legend: { data: stores },
    grid: { left: 48, right: 16, bottom: 32, top: 32 },
    xAxis: { type: "category", data: days.map((d) => d.slice(5)) },
    yAxis: { type: "value", name: "¥" },
    series: stores.map((store) => ({
      name: store,
      type: "bar",
      stack: "sales",
      ...HOVER,
      data: days.map((day) => sum(rows.filter((r) => r.store_id === store && r.day === day), (r) => r.gross) / 100),
    })),
  };
}

/** Stored value outstanding at each day's end, principal and bonus stacked (yuan): the liability per day. */
export function liabilityOption(rows: StoredValueRow[], days: string[], labels: { principal: string; bonus: string }) {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const series = (name: string, pick: (r: StoredValueRow) => number) => ({
    name,
    type: "bar",
    stack: "liability",
    ...HOVER,
    data: days.map((day) => (byDay.has(day) ? pick(byDay.get(day)!) / 100 : 0)),
  });
  return {
    legend: { data: [labels.principal, labels.bonus] },
    grid: { left: 56, right: 16, bottom: 32, top: 32 },
    xAxis: { type: "category", data: days.map((d) => d.slice(5)) },
    yAxis: { type: "value", name: "¥" },
    series: [
      series(labels.principal, (r) => r.outstanding_principal),
      series(labels.bonus, (r) => r.outstanding_bonus),
    ],
  };
}

/** New members per day, one stacked series per entry scene (the mini program's scene value). */
export function membersOption(rows: MembersRow[], days: string[]) {
  const scenes = [...new Set(rows.map((r) => r.scene))].filter((scene) => scene !== ALL_SCENES).sort();
  return {
    legend: { data: scenes },
    grid: { left: 40, right: 16, bottom: 32, top: 32 },
    xAxis: { type: "category", data: days.map((d) => d.slice(5)) },
    yAxis: { type: "value", minInterval: 1 },
    series: scenes.map((scene) => ({
      name: scene,
      type: "bar",
      stack: "members",
      ...HOVER,
      data: days.map((day) => sum(rows.filter((r) => r.scene === scene && r.day === day), (r) => r.new_members)),
    })),
  };
}

/** Members per tier at the last count, tiers in their own order (names from the merchant's tiers). */
export function tiersOption(counts: Record<string, number>, tiers: { tier_id: string; name: string }[]) {
  const known = tiers.map((tier) => ({ name: tier.name, value: counts[tier.tier_id] ?? 0 }));
  const others = Object.entries(counts)
    .filter(([id]) => !tiers.some((tier) => tier.tier_id === id))
    .map(([id, value]) => ({ name: id, value }));
  const data = [...known, ...others];
  return {
    grid: { left: 56, right: 16, bottom: 24, top: 16 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: data.map((d) => d.name) },
    series: [{ type: "bar", label: { show: true, position: "right" }, data: data.map((d) => d.value) }],
  };
}

export function funnelOption(rows: FunnelRow[], labels: { views: string; claims: string; redemptions: string }) {
  const data = [
    { name: labels.views, value: sum(rows, (r) => r.views) },
    { name: labels.claims, value: sum(rows, (r) => r.claims) },
    { name: labels.redemptions, value: sum(rows, (r) => r.redemptions) },
  ];
  return {
    series: [{ type: "funnel", left: "10%", width: "80%", sort: "none", label: { formatter: "{b}: {c}" }, data }],
  };
}
