/**
 * Every money and time format of the console, in one place (docs/money.md: money is integer fen end to end).
 *
 * Yuan typed by a person becomes fen by string arithmetic, never through a float: 0.1 + 0.2 and 19.99 * 100
 * must not decide what a member is charged. Times are shown in the merchant's time zone, whatever the browser's.
 */

export const MERCHANT_TIMEZONE = "Asia/Shanghai";
/** ¥ 10 000 000 000: far below 2^53 fen and the API's own limits, so a number here is always exact. */
const MAX_YUAN_DIGITS = 11;

/** 1234 → "¥12.34"; -5 → "-¥0.05". */
export function formatFen(fen: number): string {
  if (!Number.isSafeInteger(fen)) throw new RangeError(`not an integer amount of fen: ${fen}`);
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  const yuan = Math.floor(abs / 100).toLocaleString("en-US");
  return `${sign}¥${yuan}.${String(abs % 100).padStart(2, "0")}`;
}

/** 1234 → "12.34": what an input shows for an amount it edits. */
export function fenToYuanInput(fen: number): string {
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/**
 * "12.34" → 1234, "12" → 1200, "0.5" → 50, "¥1,000.00" → 100000; null when it is not an amount with at most two
 * decimals (a third decimal is refused, not rounded: the cashier meant something else). Negative only if `signed`.
 */
export function yuanToFen(input: string, options: { signed?: boolean } = {}): number | null {
  const text = input.trim().replace(/^¥/, "").replace(/,/g, "").trim();
  const match = /^(-?)(\d+)(?:\.(\d{0,2}))?$/.exec(text) ?? /^(-?)()\.(\d{1,2})$/.exec(text);
  if (!match) return null;
  const [, minus, whole, decimals = ""] = match;
  if (minus && !options.signed) return null;
  const digits = whole.replace(/^0+(?=\d)/, "");
  if (digits.length > MAX_YUAN_DIGITS) return null;
  const fen = Number(digits || "0") * 100 + Number(decimals.padEnd(2, "0"));
  return minus ? -fen : fen;
}

/** An ISO time → "2026-12-04 09:05" in the merchant's time zone. */
export function formatTime(iso: string | null | undefined, timeZone: string = MERCHANT_TIMEZONE): string {
  if (!iso) return "—";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** The merchant's calendar day at `now` ("YYYY-MM-DD"): reports take merchant-local days. */
export function dayIn(timeZone: string = MERCHANT_TIMEZONE, now: Date = new Date()): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
}

/** "2026-03-01" + -1 → "2026-02-28": calendar arithmetic on a day, free of any time zone. */
export function addDays(day: string, days: number): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** Days from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): number {
  const [a, b] = [from, to].map((day) => {
    const [y, m, d] = day.split("-").map(Number);
    return Date.UTC(y, m - 1, d);
  });
  return Math.round((b - a) / 86_400_000) + 1;
}

/** The period as long as [from, to] just before it: the dashboard's "previous period". */
export function previousPeriod(from: string, to: string): { from: string; to: string } {
  const length = daysBetween(from, to);
  return { from: addDays(from, -length), to: addDays(from, -1) };
}

/** "13912345678" → "139****5678"; a name → its first character and stars. Already-masked text is left alone. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return "—";
  return phone.length >= 7 ? `${phone.slice(0, 3)}****${phone.slice(-4)}` : phone;
}

export function maskName(name: string | null | undefined): string {
  if (!name) return "—";
  const chars = Array.from(name);
  return chars.length <= 1 ? name : chars[0] + "*".repeat(chars.length - 1);
}

/** 0.1234 → "12.3%"; null → "—". */
export function formatRate(rate: number | null | undefined): string {
  return rate == null ? "—" : `${(rate * 100).toFixed(1)}%`;
}
