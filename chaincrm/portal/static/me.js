// /me: Sign-In with Ethereum, the customer's own records, and consent and access changes, by a
// signature the server's relayer submits (no ETH needed) or by a transaction from the wallet.
import { PURPOSE_CODES, registryInterface } from "./abi.js";
import { api, loadConfig } from "./api.js";
import { dateText, dateTimeText, ethText, isoText, offChainMethod, unitsText, words } from "./format.js";
import { busy, clearMessage, h, Problem, readJson, setText, show, showMessage, showProblem } from "./ui.js";
import { signInWith } from "./siwe.js";
import { explain, mountWallets, sleep } from "./wallet.js";

const INDEX_POLL_MS = 500;
const INDEX_POLL_LIMIT_MS = 20_000;
const SESSION_CODES = new Set(["session_missing", "session_expired"]);
const HOW_TO_CHANGE =
  "By signature: your wallet signs and the portal's relayer sends the change, so you need no ETH. " +
  "By transaction: your wallet sends it and pays the network fee.";

const state = { config: null, wallet: null, me: null, working: false };
const $ = (id) => document.getElementById(id);
let wallets = null;

function sameAddress(a, b) {
  return Boolean(a && b) && a.toLowerCase() === b.toLowerCase();
}

// ------------------------------------------------------------------ sign-in

async function signIn(wallet) {
  if (state.working) return;
  state.working = true;
  state.wallet = wallet;
  clearMessage();
  try {
    await busy([$("sign-in"), ...document.querySelectorAll(".wallet-option")], async () => {
      await signInWith(wallet, state.config);
      await loadMe();
    });
  } catch (error) {
    showProblem(explain(error));
  } finally {
    state.working = false;
    $("sign-in").disabled = false;
    for (const button of document.querySelectorAll(".wallet-option")) button.disabled = false;
  }
}

async function signOut() {
  clearMessage();
  try {
    await api("/api/siwe/logout", { method: "POST", body: {} });
  } catch (error) {
    showProblem(explain(error));
    return;
  }
  showSignedOut();
}

function showSignedOut(problem = null) {
  state.me = null;
  show("signed-in", false);
  show("signed-out", true);
  $("customers").replaceChildren();
  wallets?.setActive(true);
  if (problem) showProblem(problem);
}

/** GET /api/me and render; a 401 shows the sign-in again (session_expired with a message). */
async function loadMe() {
  try {
    state.me = await api("/api/me");
  } catch (error) {
    if (error instanceof Problem && SESSION_CODES.has(error.kind)) {
      showSignedOut(error.kind === "session_expired" ? sessionExpired() : null);
      return null;
    }
    throw error;
  }
  render(state.me);
  return state.me;
}

function sessionExpired() {
  return new Problem("session_expired", "Your session has expired; sign in again to continue.");
}

// ------------------------------------------------------------------ rendering

function render(me) {
  show("signed-out", false);
  show("signed-in", true);
  wallets?.setActive(false);
  setText("session-address", me.address);
  const expires = $("session-expires");
  expires.replaceChildren(h("time", { datetime: isoText(me.expires_at) }, dateTimeText(me.expires_at)));
  setText("as-of-block", String(me.as_of_block));
  const customers = me.customers || [];
  $("customers").replaceChildren(
    ...(me.points ? [renderPoints(me.points)] : []),
    ...(customers.length
      ? customers.map((customer, index) => renderCustomer(customer, index))
      : [h("p", { class: "empty" }, "No customer record is bound to this wallet.")]),
  );
}

// ------------------------------------------------------------------ loyalty points

const POINTS_WORDS = { awarded: "earned on", redeemed: "redeemed on", restored: "given back from refunded" };

function renderPoints(points) {
  const add = h("button", { type: "button", id: "watch-asset", class: "button" }, "Add to wallet");
  add.addEventListener("click", () => watchPoints(points, add));
  const history = points.history || [];
  return h(
    "section",
    { id: "loyalty", class: "card loyalty", "aria-labelledby": "loyalty-heading" },
    h("header", { class: "card-head" }, h("h2", { id: "loyalty-heading" }, "Loyalty points")),
    h("p", { class: "points-balance" }, "You hold ", h("strong", { id: "points-balance" }, `${points.balance_text} ${points.symbol}`), "."),
    h(
      "p",
      { class: "muted small" },
      "You earn points when a payment of yours is released to the seller, and redeem them for a discount when you pay an invoice. ",
      "Points cannot be transferred: they stay with this wallet. ",
      "Adding them to your wallet only shows the balance there.",
    ),
    h("div", { class: "actions" }, add),
    rowsOr(history.slice().reverse(), "No points earned or redeemed yet.", (entry) =>
      h(
        "li",
        { class: "points-entry row", dataset: { kind: entry.kind } },
        h(
          "div",
          { class: "row-main" },
          when(entry.at),
          ` — ${unitsText(entry.points, points.decimals)} ${points.symbol} ${POINTS_WORDS[entry.kind] || entry.kind} `,
          h("a", { href: `/pay/${entry.invoice_id}` }, `invoice ${entry.invoice_id}`),
        ),
        h("div", { class: "muted small" }, "tx ", mono(entry.tx_hash)),
      ),
    ),
  );
}

/** EIP-747 wallet_watchAsset: the wallet shows the points token (it asks the user first). */
async function watchPoints(points, button) {
  if (state.working) return;
  clearMessage();
  try {
    await busy([button], async () => {
      const wallet = await actingWallet(state.me.address);
      const added = await wallet.watchAsset({ address: points.token, symbol: points.symbol, decimals: Number(points.decimals) });
      if (added === false) throw new Problem("rejected", "Your wallet did not add the points; nothing changed.");
      showMessage("done", `Your wallet now shows your ${points.symbol} points.`);
    });
  } catch (error) {
    showProblem(explain(error));
  } finally {
    button.disabled = false;
  }
}

function section(title, ...children) {
  return h("section", { class: "panel" }, h("h3", {}, title), ...children);
}

/** A list of rows, one `row(item)` each, or a paragraph saying `text` when there is none. */
function rowsOr(items, text, row) {
  return items.length ? h("ul", { class: "rows" }, items.map(row)) : h("p", { class: "empty" }, text);
}

function mono(text) {
  return h("code", { class: "mono" }, text);
}

function when(at) {
  return at ? h("time", { datetime: isoText(at) }, dateTimeText(at)) : "—";
}

/** "read it with `chaincrm me profile`" -> text and <code> nodes. */
function withCode(text) {
  return text.split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

function renderCustomer(customer, index) {
  const profile = customer.profile || {};
  const note = h(
    "p",
    { class: "profile-note", id: index === 0 ? "profile-note" : null },
    ...withCode(profile.note || ""),
    profile.version ? ` (profile version ${profile.version})` : "",
  );
  return h(
    "section",
    { class: "customer card", dataset: { customerId: String(customer.id) }, "aria-labelledby": `customer-${customer.id}` },
    h(
      "header",
      { class: "card-head" },
      h("h2", { id: `customer-${customer.id}` }, `Customer ${customer.id}`),
      h("span", { class: "badge", dataset: { status: customer.status } }, customer.status),
    ),
    section("Profile", note),
    section("Consents", h("p", { class: "muted small" }, HOW_TO_CHANGE), renderConsents(customer)),
    section("Active access", renderGrants(customer)),
    section("Access history", renderAccess(customer.access || [])),
    section("Deals", renderDeals(customer.deals || [])),
    section("Invoices", renderInvoices(customer.invoices || [])),
    section("Interactions", renderInteractions(customer.interactions || [])),
  );
}

/** A button whose visible text is short; `parts` = [shown, hidden for screen readers, shown]. */
function actionButton(cls, parts, handler) {
  const [before, hidden, after] = parts;
  // One inner span: a flex container would drop the spaces between its text runs.
  const label = h("span", {}, before, h("span", { class: "visually-hidden" }, hidden), after);
  const button = h("button", { type: "button", class: `button ${cls}` }, label);
  button.addEventListener("click", () => handler(button));
  return button;
}

function renderConsents(customer) {
  const consents = customer.consents || [];
  return rowsOr(consents, "No consent purposes.", (consent) => {
    const purpose = words(consent.purpose);
    const verb = consent.given ? "Withdraw" : "Give";
    const next = !consent.given;
    const run = (how) => (button) => changeConsent(customer.id, consent.purpose, next, how, button);
    return h(
      "li",
      { class: "consent row", dataset: { purpose: consent.purpose } },
      h(
        "div",
        { class: "row-main" },
        h("strong", {}, purpose),
        " ",
        h("span", { class: `consent-state badge`, dataset: { given: String(Boolean(consent.given)) } }, consent.given ? "given" : "not given"),
        consent.changed_at ? h("span", { class: "muted" }, " since ", when(consent.changed_at)) : null,
      ),
      h(
        "div",
        { class: "actions" },
        actionButton("consent-sign", [verb, ` consent for ${purpose}`, " by signature"], run("sign")),
        actionButton("consent-tx", [verb, ` consent for ${purpose}`, " by transaction"], run("tx")),
      ),
    );
  });
}

function renderGrants(customer) {
  const grants = customer.grants || [];
  return rowsOr(grants, "No staff member has access now.", (grant) => {
    const run = (how) => (button) => revoke(customer.id, grant.staff, how, button);
    return h(
      "li",
      { class: "grant row", dataset: { staff: grant.staff } },
      h("div", { class: "row-main" }, mono(grant.staff), h("span", {}, ` for ${words(grant.purpose)} since `, when(grant.since))),
      h(
        "div",
        { class: "actions" },
        actionButton("revoke-sign", ["Revoke", ` the access of ${grant.staff}`, " by signature"], run("sign")),
        actionButton("revoke-tx", ["Revoke", ` the access of ${grant.staff}`, " by transaction"], run("tx")),
      ),
    );
  });
}

function renderAccess(events) {
  return rowsOr(events, "No access was ever granted.", (event) =>
    h(
      "li",
      { class: "access-event row" },
      h(
        "div",
        { class: "row-main" },
        when(event.at),
        ` — ${words(event.purpose)} ${event.granted ? "granted" : "revoked"}`,
        event.lawful_basis ? ` (${words(event.lawful_basis)})` : "",
        " for ",
        mono(event.staff),
        " by ",
        mono(event.actor),
      ),
      h("div", { class: "muted small" }, "tx ", mono(event.tx_hash)),
    ),
  );
}

function renderDeals(deals) {
  return rowsOr(deals, "No deals.", (deal) =>
    h(
      "li",
      { class: "deal row", dataset: { dealId: String(deal.id) } },
      h(
        "div",
        { class: "row-main" },
        h("strong", {}, `Deal ${deal.id}`),
        " ",
        h("span", { class: "badge", dataset: { stage: deal.stage } }, deal.stage),
        ` ${deal.value_text !== undefined ? `${deal.value_text} ${deal.unit}` : ethText(deal.value_wei)}`,
        deal.discount_bps ? h("span", { class: "badge discount" }, `${deal.discount_bps / 100}% off`) : null,
        deal.invoice_id !== null && deal.invoice_id !== undefined
          ? h("span", {}, " — ", h("a", { href: `/pay/${deal.invoice_id}` }, `invoice ${deal.invoice_id}`))
          : null,
      ),
      h("div", { class: "muted small" }, "owner ", mono(deal.owner)),
      h(
        "ol",
        { class: "stages" },
        (deal.stages || []).map((change) =>
          h(
            "li",
            { class: "stage-change" },
            when(change.at),
            change.from === "none" ? ` opened as ${change.to} by ` : ` ${change.from} → ${change.to} by `,
            mono(change.actor),
          ),
        ),
      ),
    ),
  );
}

function renderInvoices(invoices) {
  return rowsOr(invoices, "No invoices.", (invoice) =>
    h(
      "li",
      { class: "invoice row", dataset: { invoiceId: String(invoice.id) } },
      h(
        "div",
        { class: "row-main" },
        h("a", { href: `/pay/${invoice.id}` }, `Invoice ${invoice.id}`),
        ` ${invoice.amount_text !== undefined ? `${invoice.amount_text} ${invoice.unit}` : ethText(invoice.amount_wei)} `,
        h("span", { class: "badge", dataset: { status: invoice.status } }, invoice.status),
      ),
      h(
        "div",
        { class: "muted small" },
        `due ${dateText(invoice.due_at)}`,
        invoice.overdue && invoice.status === "open" ? " (overdue)" : "",
        invoice.status === "paid_off_chain"
          ? h("span", { class: "off-chain" }, `; paid by ${offChainMethod(invoice.off_chain?.method)} on `, when(invoice.paid_at))
          : invoice.paid_at
            ? h("span", {}, "; paid ", when(invoice.paid_at))
            : null,
      ),
    ),
  );
}

function renderInteractions(interactions) {
  return rowsOr(interactions, "No interactions recorded.", (interaction) =>
    h(
      "li",
      { class: "interaction row" },
      h("div", { class: "row-main" }, when(interaction.at), ` — ${words(interaction.kind)}, ${words(interaction.outcome)}, by `, mono(interaction.author)),
      h("div", { class: "muted small" }, "content ", mono(interaction.content_hash)),
    ),
  );
}

// ------------------------------------------------------------------ changes

/** The wallet to act with: the one signed in with, else the one that holds the session's account. */
async function actingWallet(address) {
  if (state.wallet) return state.wallet;
  const found = wallets?.list() || [];
  for (const wallet of found) {
    try {
      if (sameAddress(await wallet.currentAccount(), address)) return (state.wallet = wallet);
    } catch {
      // A wallet that does not answer is not the one.
    }
  }
  if (found.length) return (state.wallet = found[0]);
  throw new Problem("no_wallet", "No browser wallet was found; install or enable one (such as MetaMask) and reload this page.");
}

/** The wallet on the right chain, using the signed-in account; the account. */
async function readyWallet() {
  const address = state.me.address;
  const wallet = await actingWallet(address);
  const account = await wallet.connect();
  if (!sameAddress(account, address)) {
    throw new Problem("wrong_account", `You are signed in as ${address}, but your wallet uses ${account}; switch account in your wallet.`);
  }
  await wallet.ensureChain(state.config);
  return { wallet, account };
}

async function typedData(params) {
  const query = new URLSearchParams(params).toString();
  return api(`/api/me/typed-data?${query}`);
}

async function signTyped(wallet, account, params) {
  const { typed_data: data, deadline } = await typedData(params);
  const signature = await wallet.signTypedData(account, data);
  return { signature, deadline: Number(deadline), nonce: Number(data.message.nonce) };
}

async function act(button, task) {
  if (state.working) return;
  state.working = true;
  clearMessage();
  const buttons = [...document.querySelectorAll("#customers button")];
  try {
    await busy(buttons, async () => {
      const { txHash, blockNumber, what } = await task();
      await reloadUntil(blockNumber);
      showMessage("done", `${what}: transaction ${txHash} (block ${blockNumber}).`);
    });
  } catch (error) {
    if (error instanceof Problem && SESSION_CODES.has(error.kind)) showSignedOut(sessionExpired());
    else showProblem(explain(error));
  } finally {
    state.working = false;
    for (const each of document.querySelectorAll("#customers button")) each.disabled = false;
  }
}

/** Reload /api/me until the index has seen `blockNumber` (the server follows the chain). */
async function reloadUntil(blockNumber) {
  const started = Date.now();
  for (;;) {
    const me = await loadMe();
    if (!me || me.as_of_block >= blockNumber || Date.now() - started > INDEX_POLL_LIMIT_MS) return;
    await sleep(INDEX_POLL_MS);
  }
}

function changeConsent(customerId, purpose, granted, how, button) {
  const what = `Consent for ${words(purpose)} ${granted ? "given" : "withdrawn"}`;
  return act(button, async () => {
    const { wallet, account } = await readyWallet();
    if (how === "sign") {
      const signed = await signTyped(wallet, account, { action: "consent", customer: customerId, purpose, granted: String(granted) });
      const relayed = await api("/api/relay", {
        method: "POST",
        body: { action: "consent", customer_id: customerId, purpose, granted, ...signed },
      });
      return { txHash: relayed.tx_hash, blockNumber: relayed.block_number, what };
    }
    const code = PURPOSE_CODES[purpose];
    if (!code) throw new Problem("invalid_request", `The purpose ${purpose} is not one this page knows.`);
    const data = registryInterface.encodeFunctionData("setConsent", [BigInt(customerId), code, granted]);
    const receipt = await sendAndWait(wallet, account, data);
    return { txHash: receipt.hash, blockNumber: receipt.blockNumber, what };
  });
}

function revoke(customerId, staff, how, button) {
  const what = `Access of ${staff} revoked`;
  return act(button, async () => {
    const { wallet, account } = await readyWallet();
    const signed = await signTyped(wallet, account, { action: "revoke", customer: customerId, staff });
    if (how === "sign") {
      const relayed = await api("/api/relay", { method: "POST", body: { action: "revoke", customer_id: customerId, staff, ...signed } });
      return { txHash: relayed.tx_hash, blockNumber: relayed.block_number, what };
    }
    const data = registryInterface.encodeFunctionData("revokeAccessBySig", [BigInt(customerId), staff, BigInt(signed.deadline), signed.signature]);
    const receipt = await sendAndWait(wallet, account, data);
    return { txHash: receipt.hash, blockNumber: receipt.blockNumber, what };
  });
}

async function sendAndWait(wallet, account, data) {
  const hash = await wallet.checkAndSend(
    { from: account, to: state.config.registry, data, value: 0n },
    { feeHint: "the option by signature needs no ETH" },
  );
  return wallet.waitForReceipt(hash);
}

// ------------------------------------------------------------------ start

async function start() {
  $("sign-out").addEventListener("click", signOut);
  try {
    state.config = await loadConfig(readJson("page-config"));
  } catch (error) {
    showProblem(explain(error));
    return;
  }
  wallets = mountWallets({ picker: $("wallet-picker"), button: $("sign-in"), onChoose: signIn });
  // The server embeds the area when the session cookie is valid, else {"error": ...} (and shows
  // session_expired in #message itself).
  const embedded = readJson("page-data");
  if (embedded && typeof embedded.address === "string" && Array.isArray(embedded.customers)) {
    state.me = embedded;
    render(embedded);
    return;
  }
  if (embedded && embedded.error) {
    showSignedOut(embedded.error.code === "session_expired" ? sessionExpired() : null);
    return;
  }
  try {
    await loadMe();
  } catch (error) {
    showSignedOut(explain(error));
  }
}

start();
