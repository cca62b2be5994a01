import { describe, expect, it } from "vitest";

import { cell } from "../reports/reports";
import { funnelOption, kpis, liabilityOption, membersOption, salesOption, tiersOption, type Reports } from "./report";

const sale = (day: string, store: string, gross: number, orders = 1) =>
  ({ day, store_id: store, staff_id: "c", orders, gross, tier_discount: 0, coupon_discount: 0, points_value: 0,
     bonus_used: 0, principal_used: 0, cash: gross, refunds: 0, refund_gross: 0, refund_cash: 0, refund_bonus: 0,
     refund_principal: 0 }) as Reports["sales"][number];
const stored = (day: string, principal: number, topup = 0) =>
  ({ day, topup_principal: topup, outstanding_principal: principal, outstanding_bonus: 7 }) as Reports["storedValue"][number];

describe("the dashboard's figures", () => {
  const reports: Reports = {
    sales: [sale("2026-12-01", "s1", 1000), sale("2026-12-02", "s2", 250, 2)],
    members: [
      { day: "2026-12-01", scene: "*", new_members: 3, cards_opened: 2, sign_ins: 4 },
      { day: "2026-12-01", scene: "1001", new_members: 2, cards_opened: 2, sign_ins: null },
      { day: "2026-12-01", scene: "-", new_members: 1, cards_opened: 0, sign_ins: null },
    ],
    storedValue: [stored("2026-12-02", 900, 500), stored("2026-12-01", 400, 400)],
    funnel: [],
  };

  it("sums flows over the range and takes stocks from its last day", () => {
    const figures = kpis(reports);
    expect(figures.sales).toBe(1250);
    expect(figures.orders).toBe(3);
    expect(figures.topups).toBe(900);
    expect(figures.principal).toBe(900); // the 2nd, whatever the rows' order
    expect(figures.newMembers).toBe(3); // the day's `*` total, not the total plus its scenes
    expect(figures.cardsOpened).toBe(2);
    expect(kpis({ sales: [], members: [], storedValue: [], funnel: [] }).principal).toBe(0);
  });

  it("charts sales per day and store in yuan, zero on a day without sales", () => {
    const option = salesOption(reports.sales, ["2026-12-01", "2026-12-02", "2026-12-03"]);
    expect(option.series.map((s) => [s.name, s.data])).toEqual([
      ["s1", [10, 0, 0]],
      ["s2", [0, 2.5, 0]],
    ]);
    const funnel = funnelOption([], { views: "v", claims: "c", redemptions: "r" });
    expect(funnel.series[0].data.map((d) => d.value)).toEqual([0, 0, 0]);
  });
});

describe("the other charts", () => {
  const days = ["2026-12-01", "2026-12-02", "2026-12-03"];
  it("stacks the liability per day from each day's outstanding figures", () => {
    const option = liabilityOption([stored("2026-12-02", 900), stored("2026-12-01", 400)], days, { principal: "p", bonus: "b" });
    expect(option.series.map((s) => s.data)).toEqual([
      [4, 9, 0],
      [0.07, 0.07, 0],
    ]);
  });
  it("counts new members per day by scene, and members per tier in the tiers' order", () => {
    const rows = [
      { day: "2026-12-01", scene: "*", new_members: 2, cards_opened: 0, sign_ins: 0 },
      { day: "2026-12-01", scene: "1011", new_members: 2, cards_opened: 0, sign_ins: null },
      { day: "2026-12-03", scene: "1001", new_members: 1, cards_opened: 0, sign_ins: null },
    ];
    expect(membersOption(rows, days).series.map((s) => [s.name, s.data])).toEqual([
      ["1001", [0, 0, 1]],
      ["1011", [2, 0, 0]],
    ]);
    const tiers = tiersOption({ gold: 1, normal: 5, gone: 2 }, [
      { tier_id: "normal", name: "普通" },
      { tier_id: "silver", name: "银卡" },
      { tier_id: "gold", name: "金卡" },
    ]);
    expect(tiers.yAxis.data).toEqual(["普通", "银卡", "金卡", "gone"]);
    expect(tiers.series[0].data).toEqual([5, 0, 1, 2]);
  });
});

describe("report cells", () => {
  it("shows fen columns in yuan and rates as percents, counts as they are", () => {
    expect(cell("gross", 12345)).toBe("¥123.45");
    expect(cell("orders", 12345)).toBe("12345");
    expect(cell("redemption_rate", 0.25)).toBe("25.0%");
    expect(cell("cost_per_redemption", null)).toBe("—");
  });
});
