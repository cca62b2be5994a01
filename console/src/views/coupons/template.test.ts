import { describe, expect, it } from "vitest";

import {
  blankForm,
  createBody,
  createProblems,
  editProblems,
  formOf,
  fromMerchantLocal,
  patchBody,
  toMerchantLocal,
  type Template,
} from "./template";

const now = new Date("2026-12-04T02:00:00Z"); // 10:00 in Shanghai

const saved: Template = {
  template_id: "CT1", name: "满100减20", kind: "FULL_REDUCTION", threshold: 10000, amount: 2000, rate: null,
  max_discount: null, gift_name: null, store_ids: ["s1"], daily_window: ["10:00", "14:00"], tier_ids: [],
  valid_from: "2026-12-01T00:00:00+08:00", valid_until: "2026-12-20T00:00:00+08:00", days_after_claim: null,
  per_member_limit: 1, points_price: null, status: "active", listed: true, total_stock: 100, stock_shards: 16,
  remaining: 90, claimed: 10, used: 2, created_at: "2026-12-01T00:00:00Z", ended_at: null,
};

describe("a new template's rules, before the API refuses them", () => {
  it("满减 takes at most half of its threshold", () => {
    const form = { ...blankForm(), name: "x", threshold: "100", amount: "60" };
    expect(createProblems(form, now)).toEqual(["amount"]);
    expect(createProblems({ ...form, amount: "50" }, now)).toEqual([]);
  });

  it("折扣 is 50 to 99 percent paid, with a cap", () => {
    const form = { ...blankForm(), kind: "DISCOUNT" as const, name: "x", rate: "49", maxDiscount: "" };
    expect(createProblems(form, now)).toEqual(["rate", "maxDiscount"]);
    expect(createProblems({ ...form, rate: "50", maxDiscount: "10" }, now)).toEqual([]);
  });

  it("a fixed window lasts at least 3 days from now, in the merchant's zone", () => {
    const form = { ...blankForm(), kind: "GIFT" as const, name: "x", giftName: "咖啡", validity: "fixed" as const };
    // from the past: 3 days count from now (10:00), so 12-07 09:59 is short and 12-07 10:00 is enough
    expect(createProblems({ ...form, validFrom: "2026-12-01T00:00", validUntil: "2026-12-07T09:59" }, now)).toEqual(["window"]);
    expect(createProblems({ ...form, validFrom: "2026-12-01T00:00", validUntil: "2026-12-07T10:00" }, now)).toEqual([]);
    expect(createProblems({ ...form, validFrom: "", validUntil: "2026-12-30T00:00" }, now)).toEqual(["window"]);
  });

  it("stock, per member, hours and a points price have their bounds", () => {
    const form = { ...blankForm(true), name: "x", giftName: "咖啡", totalStock: "0", perMember: "101",
                   windowStart: "14:00", windowEnd: "10:00", pointsPrice: "0" };
    expect(createProblems(form, now)).toEqual(["stock", "perMember", "hours", "pointsPrice"]);
    expect(createProblems({ ...blankForm(), days: "2", name: "", amount: "1", threshold: "2" }, now)).toEqual(["name", "days"]);
  });

  it("sends fen, the merchant's offset and the reward's price", () => {
    const form = { ...blankForm(true), name: " 咖啡 ", giftName: "美式", validity: "fixed" as const,
                   validFrom: "2026-12-05T00:00", validUntil: "2026-12-31T23:59", storeIds: ["s1"], tierIds: ["gold"],
                   windowStart: "07:00", windowEnd: "11:00", pointsPrice: "300" };
    expect(createBody(form)).toEqual({
      name: "咖啡", kind: "GIFT", gift_name: "美式", total_stock: 100, per_member_limit: 1, store_ids: ["s1"],
      tier_ids: ["gold"], daily_window: ["07:00", "11:00"], points_price: 300, listed: true,
      valid_from: "2026-12-05T00:00:00+08:00", valid_until: "2026-12-31T23:59:00+08:00",
    });
    expect(createBody({ ...blankForm(), name: "x", threshold: "19.99", amount: "0.5" })).toMatchObject({
      threshold: 1999, amount: 50, days_after_claim: 30, points_price: null, daily_window: null,
    });
  });
});

describe("an edit: only what is safe after issue", () => {
  it("reads a saved template back into the form in the merchant's zone", () => {
    const form = formOf(saved);
    expect(form).toMatchObject({ threshold: "100.00", amount: "20.00", validity: "fixed",
                                 validUntil: "2026-12-20T00:00", windowStart: "10:00", storeIds: ["s1"] });
    expect(toMerchantLocal("2026-12-04T16:30:00Z")).toBe("2026-12-05T00:30"); // past midnight in Shanghai
    expect(fromMerchantLocal("2026-12-05T00:30")).toBe("2026-12-05T00:30:00+08:00");
  });

  it("stock only grows, the end only moves later", () => {
    const form = formOf(saved);
    expect(editProblems(form, saved, now)).toEqual([]);
    expect(editProblems({ ...form, totalStock: "99", validUntil: "2026-12-19T00:00" }, saved, now)).toEqual(["stockGrows", "later"]);
  });

  it("sends only what changed", () => {
    const form = formOf(saved);
    expect(patchBody(form, saved)).toEqual({});
    expect(patchBody({ ...form, name: "新名", totalStock: "150", validUntil: "2026-12-25T00:00", listed: false }, saved))
      .toEqual({ name: "新名", total_stock: 150, valid_until: "2026-12-25T00:00:00+08:00", listed: false });
  });
});
