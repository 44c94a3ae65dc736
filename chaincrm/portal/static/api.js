// fetch() for the portal's JSON API, and the staff console's. A network failure (server or node
// down) becomes Problem("node_unreachable"); a JSON error {"error": {"code", "message"}} becomes a
// Problem with that code and message. A caller may add headers (the console's CSRF token), word
// the unreachable message its own way, and turn an answer that is not JSON into a Problem of its
// own (`unexpected(status)`) rather than "node_unreachable".
import { Problem } from "./ui.js";

const UNREACHABLE = "The server cannot be reached right now; check your connection and try again.";

export async function api(
  path,
  { method = "GET", body = undefined, headers = {}, unreachable = UNREACHABLE, unexpected = null } = {},
) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new Problem("node_unreachable", unreachable);
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
  if (unexpected) throw unexpected(response.status);
  throw new Problem("node_unreachable", unreachable, { status: response.status });
}

/** The /api/config dict: from the page when the server embedded it, else fetched. */
export async function loadConfig(embedded) {
  if (embedded && typeof embedded.chain_id === "number") return embedded;
  return api("/api/config");
}
