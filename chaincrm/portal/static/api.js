// fetch() for the portal's JSON API. A network failure (server or node down) becomes
// Problem("node_unreachable"); a JSON error {"error": {"code", "message"}} becomes a Problem with
// that code and message.
import { Problem } from "./ui.js";

const UNREACHABLE = "The server cannot be reached right now; check your connection and try again.";

export async function api(path, { method = "GET", body = undefined } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new Problem("node_unreachable", UNREACHABLE);
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.ok && payload !== null) return payload;
  const error = payload && typeof payload === "object" ? payload.error : null;
  if (error && typeof error.code === "string") {
    const detail = { status: response.status, ...error };
    const retry = response.headers.get("Retry-After");
    if (retry) detail.retryAfter = Number(retry);
    throw new Problem(error.code, String(error.message || error.code), detail);
  }
  throw new Problem("node_unreachable", UNREACHABLE, { status: response.status });
}

/** The /api/config dict: from the page when the server embedded it, else fetched. */
export async function loadConfig(embedded) {
  if (embedded && typeof embedded.chain_id === "number") return embedded;
  return api("/api/config");
}
