import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { apiMessage, zhCN } from "./apiErrors";

describe("apiMessage", () => {
  it("says a refusal in Chinese, keeping the detail only the API knows", () => {
    expect(apiMessage("INSUFFICIENT_POINTS", "not enough points", "zh-CN")).toBe("积分不足");
    expect(apiMessage("VALIDATION_ERROR", "amount: must be at least 1", "zh-CN")).toBe("输入有误（amount: must be at least 1）");
    expect(apiMessage("STORED_VALUE_REMAINS", "refund with POST /v1/admin/topup/orders/{order_id}/refund", "zh-CN")).toContain(
      "/v1/admin/topup/orders/{order_id}/refund",
    );
  });

  it("shows the API's message for a code it does not know, and in English", () => {
    expect(apiMessage("SOMETHING_NEW", "a new refusal", "zh-CN")).toBe("a new refusal");
    expect(apiMessage("INSUFFICIENT_POINTS", "not enough points", "en")).toBe("not enough points");
  });

  it("knows every error code the API declares", () => {
    const spec = JSON.parse(readFileSync(new URL("../../../openapi.json", import.meta.url), "utf8"));
    const codes = new Set<string>();
    JSON.stringify(spec.paths, (key, value) => {
      if (key === "code" && value && Array.isArray(value.enum)) value.enum.forEach((c: string) => codes.add(c));
      return value;
    });
    expect(codes.size).toBeGreaterThan(20);
    expect([...codes].filter((c) => !(c in zhCN))).toEqual([]);
  });
});
