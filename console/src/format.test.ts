import { describe, expect, it } from "vitest";

import {
  addDays,
  dayIn,
  fenToYuanInput,
  formatFen,
  formatTime,
  maskName,
  maskPhone,
  previousPeriod,
  yuanToFen,
} from "./format";

describe("formatFen", () => {
  it("shows yuan with two decimals", () => {
    expect(formatFen(1234)).toBe("¥12.34");
    expect(formatFen(5)).toBe("¥0.05");
    expect(formatFen(0)).toBe("¥0.00");
    expect(formatFen(-5)).toBe("-¥0.05");
    expect(formatFen(123456789)).toBe("¥1,234,567.89");
  });
  it("refuses what is not integer fen", () => {
    expect(() => formatFen(12.5)).toThrow(RangeError);
  });
  it("gives back what an input shows", () => {
    expect(fenToYuanInput(1999)).toBe("19.99");
    expect(fenToYuanInput(-50)).toBe("-0.50");
  });
});

describe("yuanToFen", () => {
  it("turns yuan into integer fen without floats", () => {
    expect(yuanToFen("12.34")).toBe(1234);
    expect(yuanToFen("19.99")).toBe(1999); // 19.99 * 100 is 1998.9999999999998 in floats
    expect(yuanToFen("0.29")).toBe(29); // 0.29 * 100 is 28.999999999999996
    expect(yuanToFen("12")).toBe(1200);
    expect(yuanToFen("12.")).toBe(1200);
    expect(yuanToFen("0.5")).toBe(50);
    expect(yuanToFen(".5")).toBe(50);
    expect(yuanToFen(" ¥1,000.00 ")).toBe(100000);
    expect(yuanToFen("007.10")).toBe(710);
  });
  it("refuses what is not an amount", () => {
    for (const bad of ["", " ", "abc", "1.234", "1e3", "0x10", "1.2.3", "12,34.5.6", "-", "NaN", "Infinity"]) {
      expect(yuanToFen(bad), bad).toBeNull();
    }
    expect(yuanToFen("123456789012")).toBeNull(); // too many digits to be a real amount
  });
  it("takes a sign only where one is allowed", () => {
    expect(yuanToFen("-1.50")).toBeNull();
    expect(yuanToFen("-1.50", { signed: true })).toBe(-150);
  });
});

describe("times in the merchant's time zone", () => {
  it("formats an instant in Asia/Shanghai whatever the browser's zone", () => {
    expect(formatTime("2026-02-28T16:30:00Z")).toBe("2026-03-01 00:30");
    expect(formatTime("2026-02-28T16:30:00+00:00", "UTC")).toBe("2026-02-28 16:30");
    expect(formatTime(null)).toBe("—");
  });
  it("takes the merchant's day, not UTC's", () => {
    expect(dayIn("Asia/Shanghai", new Date("2028-02-28T16:30:00Z"))).toBe("2028-02-29");
    expect(dayIn("UTC", new Date("2028-02-28T16:30:00Z"))).toBe("2028-02-28");
  });
  it("does calendar arithmetic across months and leap days", () => {
    expect(addDays("2028-03-01", -1)).toBe("2028-02-29");
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
    expect(previousPeriod("2026-12-01", "2026-12-31")).toEqual({ from: "2026-10-31", to: "2026-11-30" });
    expect(previousPeriod("2026-12-04", "2026-12-04")).toEqual({ from: "2026-12-03", to: "2026-12-03" });
  });
});

describe("masking", () => {
  it("masks phones and names", () => {
    expect(maskPhone("13912345678")).toBe("139****5678");
    expect(maskName("张三丰")).toBe("张**");
    expect(maskName(null)).toBe("—");
  });
});
