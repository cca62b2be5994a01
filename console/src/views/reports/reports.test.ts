import { describe, expect, it } from "vitest";

import { REPORTS, reportOption, segmentsOption, type ChartLabels } from "./reports";

const labels: ChartLabels = {
  principal: "本金", bonus: "赠送", views: "浏览", claims: "领取", redemptions: "核销", issued: "发放", spent: "使用",
  expired: "过期", buyers: "购买", repeatBuyers: "复购",
};
const days = ["2026-12-01", "2026-12-02"];

describe("every report has a chart built from its rows", () => {
  it("gives each report an option with series, empty rows included", () => {
    for (const name of REPORTS) {
      const option = reportOption(name, [], days, labels) as { series: unknown[] };
      expect(Array.isArray(option.series), name).toBe(true);
    }
  });

  it("points: issued, spent and expired per day, a missing day as zero", () => {
    const rows = [{ day: "2026-12-02", issued: 30, spent: 10, expired: 1, returned: 0, reversed: 0, outstanding: 19, by_kind: {} }];
    const option = reportOption("points", rows, days, labels) as { series: { name: string; data: number[] }[] };
    expect(option.series.map((s) => [s.name, s.data])).toEqual([["发放", [0, 30]], ["使用", [0, 10]], ["过期", [0, 1]]]);
  });

  it("repurchase: buyers and those who came back", () => {
    const rows = [{ buyers: 9, repeat_buyers: 4, repeat_share: 0.4444, median_days_between: 6 }];
    const option = reportOption("repurchase", rows, days, labels) as { series: { data: number[] }[] };
    expect(option.series[0].data).toEqual([9, 4]);
  });

  it("segments: members per segment in the API's order", () => {
    const option = segmentsOption({ 重要价值: 2, 一般发展: 1 }) as { yAxis: { data: string[] }; series: { data: number[] }[] };
    expect(option.yAxis.data).toEqual(["重要价值", "一般发展"]);
    expect(option.series[0].data).toEqual([2, 1]);
  });
});
