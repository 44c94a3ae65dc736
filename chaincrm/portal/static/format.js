// Plain formatting of the API's values: wei as decimal strings, times as Unix seconds.

const WEI_PER_ETH = 10n ** 18n;

/** "17510000000000000000" -> "17.51" (exact, with BigInt; no rounding, no trailing zeros). */
export function ethAmount(wei) {
  const value = BigInt(wei);
  const sign = value < 0n ? "-" : "";
  const abs = value < 0n ? -value : value;
  const whole = abs / WEI_PER_ETH;
  const fraction = (abs % WEI_PER_ETH).toString().padStart(18, "0").replace(/0+$/, "");
  return sign + whole.toString() + (fraction ? "." + fraction : "");
}

/** Base units as exact text in whole units: (17510000, 6) -> "17.51" (BigInt; no rounding). */
export function unitsText(amount, decimals) {
  const value = BigInt(amount);
  const places = Number(decimals);
  const sign = value < 0n ? "-" : "";
  const abs = value < 0n ? -value : value;
  const scale = 10n ** BigInt(places);
  const fraction = places ? (abs % scale).toString().padStart(places, "0").replace(/0+$/, "") : "";
  return sign + (abs / scale).toString() + (fraction ? "." + fraction : "");
}

const OFF_CHAIN_METHODS = { bank_transfer: "bank transfer", card: "card" };

/** An off-chain payment's method as words: "bank transfer", "card", else "a payment outside the chain". */
export function offChainMethod(method) {
  return OFF_CHAIN_METHODS[method] || "a payment outside the chain";
}

/** "17.51 ETH" */
export function ethText(wei) {
  return `${ethAmount(wei)} ETH`;
}

/** A short figure for fees: at most 6 decimals, rounded up so a shown cost is never too low. */
export function ethApprox(wei) {
  const step = 10n ** 12n;
  const value = BigInt(wei);
  const rounded = ((value + step - 1n) / step) * step;
  return ethText(rounded);
}

const DATE = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const TIME = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" });

/** 1767225600 -> "1 Jan 2026" (UTC) */
export function dateText(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return DATE.format(new Date(Number(seconds) * 1000));
}

/** 1767225600 -> "1 Jan 2026, 00:00 UTC" */
export function dateTimeText(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const at = new Date(Number(seconds) * 1000);
  return `${DATE.format(at)}, ${TIME.format(at)} UTC`;
}

/** 1767225600 -> "2026-01-01T00:00:00.000Z", for <time datetime>. */
export function isoText(seconds) {
  return new Date(Number(seconds) * 1000).toISOString();
}

function plural(count, unit) {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}

/** 604800 -> "7 days"; 93600 -> "1 day 2 hours"; 5400 -> "1 hour 30 minutes"; 45 -> "45 seconds". */
export function durationText(seconds) {
  let rest = Math.max(0, Math.floor(Number(seconds)));
  const days = Math.floor(rest / 86400);
  rest %= 86400;
  const hours = Math.floor(rest / 3600);
  rest %= 3600;
  const minutes = Math.floor(rest / 60);
  const secs = rest % 60;
  const parts = [];
  if (days) parts.push(plural(days, "day"));
  if (hours) parts.push(plural(hours, "hour"));
  if (minutes && !days) parts.push(plural(minutes, "minute"));
  if (secs && !days && !hours) parts.push(plural(secs, "second"));
  return parts.length ? parts.join(" ") : "0 seconds";
}

/** "third_party_sharing" -> "third party sharing" */
export function words(code) {
  return String(code).replaceAll("_", " ");
}
