// /pay/{id}: the invoice, connecting a wallet, paying it, then confirming delivery or disputing.
// Every check runs before anything is signed; a failed check shows one message and sends nothing.
import { ethers } from "/static/vendor/ethers.min.js";
import { escrowInterface } from "./abi.js";
import { api, loadConfig } from "./api.js";
import { dateText, dateTimeText, durationText, ethText, isoText } from "./format.js";
import { busy, clearMessage, h, Problem, readJson, setText, show, showMessage, showProblem } from "./ui.js";
import { explain, mountWallets, sleep, wrongNetwork } from "./wallet.js";

const STATUS_POLL_MS = 500;
const STATUS_POLL_LIMIT_MS = 120_000;
const AMOUNT_LABELS = { open: "Amount due", paid: "Amount paid", disputed: "Amount paid", released: "Amount paid" };

const state = {
  invoice: readJson("page-data"),
  config: null,
  wallet: null,
  account: null,
  chainOk: false,
  sending: false,
};

const $ = (id) => document.getElementById(id);

function sameAddress(a, b) {
  return Boolean(a && b) && a.toLowerCase() === b.toLowerCase();
}

function statusProblem(status) {
  if (status === "open") return null;
  if (status === "cancelled") return new Problem("cancelled", "This invoice was cancelled and can no longer be paid.");
  return new Problem("already_paid", "This invoice has already been paid.");
}

function wrongAccount() {
  return new Problem(
    "wrong_account",
    `This invoice must be paid from ${state.invoice.payer}, but your wallet is connected as ${state.account}; switch account in your wallet.`,
  );
}

// ------------------------------------------------------------------ rendering

function renderInvoice() {
  const invoice = state.invoice;
  setText("invoice-id", String(invoice.id));
  setText("invoice-amount", ethText(invoice.amount_wei));
  setText("amount-label", AMOUNT_LABELS[invoice.status] || "Amount");
  const due = $("invoice-due");
  due.replaceChildren(h("time", { datetime: isoText(invoice.due_at) }, dateText(invoice.due_at)));
  show("invoice-overdue", Boolean(invoice.overdue) && invoice.status === "open");
  const status = setText("invoice-status", invoice.status);
  status.dataset.status = invoice.status;
  setText("invoice-deal", invoice.deal ? `Deal ${invoice.deal.id} — ${invoice.deal.stage}` : "—");
  setText("invoice-payer", invoice.payer);
  setText("invoice-escrow", escrowAddress());
  setText("invoice-reference", invoice.payment_reference || "—");
  setText("pay", `Pay ${ethText(invoice.amount_wei)}`);
  renderTerms(invoice.escrow || {});
  renderHistory(invoice);
}

function renderTerms(escrow) {
  const terms = $("escrow-terms");
  const rows = [];
  if (escrow.dispute_window_seconds !== undefined) {
    const ends = escrow.dispute_window_ends_at ? ` (until ${dateTimeText(escrow.dispute_window_ends_at)})` : "";
    rows.push(["Dispute window", `${durationText(escrow.dispute_window_seconds)} after payment${ends}`]);
  }
  if (escrow.released_by) rows.push(["Who can release", escrow.released_by]);
  if (escrow.dispute_resolution_seconds !== undefined) {
    const by = escrow.resolve_by ? ` (by ${dateTimeText(escrow.resolve_by)})` : "";
    rows.push(["Disputes", `A manager resolves a dispute within ${durationText(escrow.dispute_resolution_seconds)}${by}; after that the payer can reclaim the payment.`]);
  }
  terms.replaceChildren(
    h("h2", {}, "Escrow terms"),
    h("p", {}, "Your payment is held by the escrow contract, not paid straight to the seller."),
    h("dl", { class: "facts" }, rows.flatMap(([term, text]) => [h("dt", {}, term), h("dd", {}, text)])),
  );
}

function renderHistory(invoice) {
  const events = [
    ["Paid", invoice.paid_at],
    ["Disputed", invoice.disputed_at],
    ["Released", invoice.released_at],
    ["Refunded", invoice.refunded_at],
    ["Cancelled", invoice.cancelled_at],
  ].filter(([, at]) => at);
  const list = $("invoice-history");
  list.replaceChildren(...events.map(([what, at]) => h("li", {}, `${what} `, h("time", { datetime: isoText(at) }, dateTimeText(at)))));
  list.hidden = events.length === 0;
}

function escrowAddress() {
  return state.invoice.escrow?.address || state.config?.escrow || "";
}

function ready() {
  return Boolean(state.account) && state.chainOk && sameAddress(state.account, state.invoice.payer);
}

function updateControls() {
  const invoice = state.invoice;
  const isPayer = Boolean(state.account) && sameAddress(state.account, invoice.payer);
  $("pay").disabled = state.sending || !ready() || invoice.status !== "open";
  const windowEnds = invoice.escrow?.dispute_window_ends_at;
  const canSettle = invoice.status === "paid" && isPayer && (!windowEnds || Date.now() / 1000 < windowEnds);
  show("after-payment", canSettle);
  $("confirm-delivery").disabled = state.sending || !canSettle;
  $("dispute").disabled = state.sending || !canSettle;
  if (windowEnds) setText("window-ends", dateTimeText(windowEnds));
  wallets?.setActive(!ready());
}

function setAccount(account) {
  state.account = account;
  setText("account", account || "");
  setText("wallet-name", state.wallet ? `(${state.wallet.name})` : "");
  show("account-line", Boolean(account));
}

// ------------------------------------------------------------------ wallet

async function choose(wallet) {
  if (state.sending) return;
  if (state.wallet !== wallet) {
    state.wallet = wallet;
    wallet.onChange(() => recheck());
  }
  clearMessage();
  try {
    setAccount(await wallet.connect());
    state.chainOk = false;
    updateControls();
    await wallet.ensureChain(state.config);
    state.chainOk = true;
    if (!sameAddress(state.account, state.invoice.payer)) throw wrongAccount();
    const problem = statusProblem(state.invoice.status);
    if (problem && state.invoice.status !== "paid") throw problem;
  } catch (error) {
    showProblem(explain(error));
  }
  updateControls();
}

/** The user switched account or chain in the wallet: check again, without prompting. */
async function recheck() {
  if (!state.wallet || state.sending) return;
  try {
    setAccount(await state.wallet.currentAccount());
    state.chainOk = (await state.wallet.chainId()) === Number(state.config.chain_id);
    if (state.account) {
      if (!state.chainOk) throw wrongNetwork(state.config);
      if (!sameAddress(state.account, state.invoice.payer)) throw wrongAccount();
      clearMessage("wrong_network");
      clearMessage("wrong_account");
    }
  } catch (error) {
    showProblem(explain(error));
  }
  updateControls();
}

/** Before any transaction: the right chain and the payer's account, asked of the wallet now. */
async function checkWallet() {
  await state.wallet.ensureChain(state.config);
  state.chainOk = true;
  setAccount(await state.wallet.currentAccount());
  if (!sameAddress(state.account, state.invoice.payer)) throw wrongAccount();
}

// ------------------------------------------------------------------ transactions

async function refreshInvoice() {
  state.invoice = await api(`/api/invoices/${state.invoice.id}`);
  renderInvoice();
  updateControls();
  return state.invoice;
}

async function follow(hash, target, doneText) {
  show("tx", true);
  setText("tx-state", "pending");
  setText("tx-hash", hash);
  setText("tx-block", "—");
  let receipt;
  try {
    receipt = await state.wallet.waitForReceipt(hash);
  } catch (error) {
    setText("tx-state", "failed");
    throw error;
  }
  setText("tx-state", "confirmed");
  setText("tx-block", String(receipt.blockNumber));
  const started = Date.now();
  while (Date.now() - started < STATUS_POLL_LIMIT_MS) {
    try {
      if ((await refreshInvoice()).status === target) break;
    } catch {
      // The server may be restarting; the transaction is confirmed, so keep asking.
    }
    await sleep(STATUS_POLL_MS);
  }
  showMessage("done", doneText(receipt));
}

async function send(buttons, build, target, doneText) {
  if (state.sending) return;
  state.sending = true;
  clearMessage();
  updateControls();
  try {
    await busy(buttons, async () => {
      const invoice = await refreshInvoice();
      const problem = build.requiredStatus(invoice.status);
      if (problem) throw problem;
      await checkWallet();
      const hash = await state.wallet.checkAndSend({ from: state.account, to: escrowAddress(), ...build.tx(invoice) });
      await follow(hash, target, doneText);
    });
  } catch (error) {
    showProblem(explain(error));
  } finally {
    state.sending = false;
    updateControls();
  }
}

const settleStatus = (status) =>
  status === "paid" ? null : new Problem("invoice_not_paid", `This invoice is ${status}, so it cannot be settled from here any more.`);

function pay() {
  return send(
    [$("pay")],
    {
      requiredStatus: statusProblem,
      tx: (invoice) => ({ data: escrowInterface.encodeFunctionData("pay", [BigInt(invoice.id)]), value: BigInt(invoice.amount_wei) }),
    },
    "paid",
    (receipt) => `Paid: your payment is confirmed in block ${receipt.blockNumber} and held in escrow.`,
  );
}

function settle(fn, target, doneText) {
  return send(
    [$("confirm-delivery"), $("dispute")],
    {
      requiredStatus: settleStatus,
      tx: (invoice) => ({ data: escrowInterface.encodeFunctionData(fn, [BigInt(invoice.id)]), value: 0n }),
    },
    target,
    doneText,
  );
}

// ------------------------------------------------------------------ start

let wallets = null;

async function start() {
  if (!state.invoice || state.invoice.id === undefined) return;
  renderInvoice();
  try {
    state.config = await loadConfig(readJson("page-config"));
  } catch (error) {
    showProblem(explain(error));
    return;
  }
  state.invoice.payer = ethers.getAddress(state.invoice.payer);
  const problem = statusProblem(state.invoice.status);
  if (problem) showProblem(problem);
  $("pay").addEventListener("click", pay);
  $("confirm-delivery").addEventListener("click", () =>
    settle("confirmDelivery", "released", (r) => `Delivery confirmed in block ${r.blockNumber}; the payment is released to the seller.`),
  );
  $("dispute").addEventListener("click", () =>
    settle("dispute", "disputed", (r) => `Dispute opened in block ${r.blockNumber}; the payment stays in escrow until it is resolved.`),
  );
  wallets = mountWallets({ picker: $("wallet-picker"), button: $("connect"), onChoose: choose });
  updateControls();
}

start();
