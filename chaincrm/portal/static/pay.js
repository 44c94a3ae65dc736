// /pay/{id}: the invoice, connecting a wallet, paying it (in ETH, or in an ERC-20 by a signed
// permit in one transaction or by "approve, then pay"; loyalty points can take a discount off),
// then confirming delivery or disputing. Every check runs before anything is signed; a failed
// check shows one message and sends nothing.
import { ethers } from "/static/vendor/ethers.min.js";
import { escrowInterface, tokenInterface } from "./abi.js";
import { api, loadConfig } from "./api.js";
import { dateText, dateTimeText, durationText, isoText, offChainMethod, unitsText } from "./format.js";
import { busy, clearMessage, h, Problem, readJson, setText, show, showMessage, showProblem } from "./ui.js";
import { explain, mountWallets, revertProblem, sleep, wrongNetwork } from "./wallet.js";

const STATUS_POLL_MS = 500;
const STATUS_POLL_LIMIT_MS = 120_000;
const AMOUNT_LABELS = {
  open: "Amount due",
  paid: "Amount paid",
  disputed: "Amount paid",
  released: "Amount paid",
  paid_off_chain: "Amount paid",
};
const WAD = 10n ** 18n;
const PERMIT_SECONDS = 30 * 60;
const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

const state = {
  invoice: readJson("page-data"),
  config: null,
  wallet: null,
  account: null,
  chainOk: false,
  sending: false,
  points: null, // the payer's loyalty points (bigint) once read
  permit: undefined, // the token's EIP-712 domain when it takes permits, null when not; undefined: not asked yet
};

const $ = (id) => document.getElementById(id);

function sameAddress(a, b) {
  return Boolean(a && b) && a.toLowerCase() === b.toLowerCase();
}

function statusProblem(status) {
  if (status === "open") return null;
  if (status === "cancelled") return new Problem("cancelled", "This invoice was cancelled and can no longer be paid.");
  if (status === "paid_off_chain") return new Problem("paid_off_chain", offChainText(state.invoice) + "; there is nothing to pay here.");
  return new Problem("already_paid", "This invoice has already been paid.");
}

/** "Paid by bank transfer on 3 Dec 2026" */
function offChainText(invoice) {
  const paid = invoice.off_chain || {};
  const at = paid.at ?? invoice.paid_at;
  return `Paid by ${offChainMethod(paid.method)}${at ? ` on ${dateText(at)}` : ""}`;
}

const isToken = () => Boolean(state.invoice.currency);
const decimals = () => (isToken() ? Number(state.invoice.currency.decimals) : 18);
const unit = () => state.invoice.unit || (isToken() ? state.invoice.currency.symbol : "ETH");
const money = (amount) => `${unitsText(amount, decimals())} ${unit()}`;
const amountOf = (invoice) => BigInt(invoice.amount ?? invoice.amount_wei);

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
  setText("invoice-amount", money(amountOf(invoice)));
  setText("amount-label", AMOUNT_LABELS[invoice.status] || "Amount");
  setText("off-chain", invoice.status === "paid_off_chain" ? offChainText(invoice) : "");
  show("off-chain", invoice.status === "paid_off_chain");
  const due = $("invoice-due");
  due.replaceChildren(h("time", { datetime: isoText(invoice.due_at) }, dateText(invoice.due_at)));
  show("invoice-overdue", Boolean(invoice.overdue) && invoice.status === "open");
  const status = setText("invoice-status", invoice.status);
  status.dataset.status = invoice.status;
  setText("invoice-deal", invoice.deal ? `Deal ${invoice.deal.id} — ${invoice.deal.stage}` : "—");
  setText("invoice-payer", invoice.payer);
  setText("invoice-escrow", escrowAddress());
  setText("invoice-reference", invoice.payment_reference || "—");
  renderPayButton();
  renderTerms(invoice.escrow || {}, invoice.status === "paid_off_chain");
  renderHistory(invoice);
}

function renderTerms(escrow, offChain) {
  const terms = $("escrow-terms");
  if (offChain) {
    terms.replaceChildren(
      h("h2", {}, "Escrow terms"),
      h("p", {}, "This invoice was paid outside the chain and recorded by the seller; the escrow holds nothing for it."),
    );
    return;
  }
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
    [invoice.status === "paid_off_chain" ? "Payment recorded" : "Paid", invoice.paid_at],
    ["Disputed", invoice.disputed_at],
    ["Released", invoice.released_at],
    ["Refunded", invoice.refunded_at],
    ["Cancelled", invoice.cancelled_at],
  ].filter(([, at]) => at);
  const list = $("invoice-history");
  list.replaceChildren(...events.map(([what, at]) => h("li", {}, `${what} `, h("time", { datetime: isoText(at) }, dateTimeText(at)))));
  list.hidden = events.length === 0;
}

// ------------------------------------------------------------------ points and the way to pay

/** The points typed in (base units, 18 decimals); a Problem when it is not a number. */
function pointsWanted() {
  const text = $("points-input").value.trim();
  if (!text || !state.invoice.loyalty) return 0n;
  let value;
  try {
    value = ethers.parseUnits(text, 18);
  } catch {
    throw new Problem("invalid_points", "Enter the points to redeem as a number, such as 12 or 12.5.");
  }
  if (value < 0n) throw new Problem("invalid_points", "Enter the points to redeem as a number, such as 12 or 12.5.");
  return value;
}

const redeemWad = () => BigInt(state.invoice.loyalty?.redeem_wad || "0");
const discountOf = (points) => (points * redeemWad()) / WAD;

/** What the payer pays after redeeming `points`, checked as the contract checks it. */
function dueAfter(points) {
  const amount = amountOf(state.invoice);
  if (points === 0n) return amount;
  if (state.points !== null && points > state.points) {
    throw revertProblem({ name: "PointsInsufficient", args: { account: state.account, held: String(state.points), wanted: String(points) } });
  }
  const discount = discountOf(points);
  if (discount >= amount) {
    throw revertProblem({ name: "PointsDiscountTooLarge", args: { invoiceId: String(state.invoice.id), discount: String(discount), amount: String(amount) } });
  }
  return amount - discount;
}

/** The most points that leave something to pay (and that the payer holds). */
function mostPoints() {
  const rate = redeemWad();
  if (rate === 0n || state.points === null) return 0n;
  const amount = amountOf(state.invoice);
  // discount = points * rate / WAD must stay below amount: points < amount * WAD / rate.
  let limit = ((amount - 1n) * WAD + rate - 1n) / rate;
  while (limit > 0n && discountOf(limit) >= amount) limit -= 1n;
  return limit < state.points ? limit : state.points;
}

function renderPoints() {
  const loyalty = state.invoice.loyalty;
  const visible = Boolean(loyalty) && state.invoice.status === "open" && Boolean(state.points) && ready();
  show("points-box", visible);
  if (!visible) return;
  setText("points-balance", `${unitsText(state.points, 18)} ${loyalty.symbol}`);
  setText("points-rate", `Each point takes ${unitsText(redeemWad(), decimals())} ${unit()} off; the points are burned when you pay.`);
  let points = 0n;
  try {
    points = pointsWanted();
    const due = dueAfter(points);
    setText("points-discount", points ? money(discountOf(points)) : "—");
    setText("points-left", money(due));
    clearMessage("invalid_points");
    clearMessage("points_insufficient");
    clearMessage("points_discount_too_large");
  } catch (error) {
    setText("points-discount", "—");
    setText("points-left", "—");
    showProblem(explain(error));
  }
}

function renderPayButton() {
  let label = `Pay ${money(amountOf(state.invoice))}`;
  try {
    const points = state.invoice.status === "open" && ready() ? pointsWanted() : 0n;
    if (points) label = `Pay ${money(dueAfter(points))}`;
  } catch {
    // The amount stays as it is; the message says what is wrong with the points.
  }
  const twoSteps = isToken() && state.permit === null;
  setText("pay", twoSteps ? `Approve, then pay ${label.slice(4)}` : label);
  const method = $("pay-method");
  if (isToken() && state.permit !== undefined && state.invoice.status === "open") {
    method.textContent = twoSteps
      ? `${unit()} does not take signed approvals, so paying takes two transactions: first your wallet approves the escrow to take the amount, then it pays.`
      : `Your wallet signs an approval (a permit, no fee) and sends the payment in one transaction.`;
    method.hidden = false;
  } else {
    method.hidden = true;
  }
}

/** After connecting as the payer: the points held and whether the token takes permits. */
async function readPayerState() {
  if (!ready() || state.invoice.status !== "open") return;
  const wallet = state.wallet;
  if (state.invoice.loyalty) {
    const data = tokenInterface.encodeFunctionData("balanceOf", [state.account]);
    state.points = BigInt(await wallet.read(state.invoice.loyalty.points, data));
  }
  if (isToken() && state.permit === undefined) state.permit = await permitDomain(state.invoice.currency.address);
}

/** The token's EIP-712 domain (ERC-5267) when it takes EIP-2612 permits, else null. */
async function permitDomain(token) {
  try {
    const [domainRaw, nonce] = await Promise.all([
      state.wallet.read(token, tokenInterface.encodeFunctionData("eip712Domain", [])),
      state.wallet.read(token, tokenInterface.encodeFunctionData("nonces", [state.account])),
    ]);
    const domain = tokenInterface.decodeFunctionResult("eip712Domain", domainRaw);
    tokenInterface.decodeFunctionResult("nonces", nonce);
    if (Number(domain.chainId) !== Number(state.config.chain_id) || !sameAddress(domain.verifyingContract, token)) return null;
    return { name: domain.name, version: domain.version, chainId: Number(domain.chainId), verifyingContract: ethers.getAddress(token) };
  } catch (error) {
    if (error instanceof Problem && error.kind === "node_unreachable") throw error;
    return null;
  }
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
  show("pay", invoice.status !== "paid_off_chain");
  $("points-input").disabled = state.sending;
  $("points-max").disabled = state.sending;
  renderPoints();
  renderPayButton();
  const windowEnds = invoice.escrow?.dispute_window_ends_at;
  const canSettle = invoice.status === "paid" && isPayer && (!windowEnds || Date.now() / 1000 < windowEnds);
  show("after-payment", canSettle);
  $("confirm-delivery").disabled = state.sending || !canSettle;
  $("dispute").disabled = state.sending || !canSettle;
  if (windowEnds) setText("window-ends", dateTimeText(windowEnds));
  wallets?.setActive(!ready() && invoice.status !== "paid_off_chain"); // paid off-chain: nothing to connect for
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
    await readPayerState();
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
      await readPayerState();
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
      if (build.run) {
        await build.run(invoice);
        return;
      }
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

const paidText = (receipt) => `Paid: your payment is confirmed in block ${receipt.blockNumber} and held in escrow.`;

function pay() {
  return send([$("pay"), $("points-max")], { requiredStatus: statusProblem, run: payNow }, "paid", paidText);
}

/** Pay the invoice as it is now: ETH, or the token (already approved, by permit, or approve then pay). */
async function payNow(invoice) {
  const id = BigInt(invoice.id);
  const points = pointsWanted();
  if (points) state.points = BigInt(await state.wallet.read(invoice.loyalty.points, tokenInterface.encodeFunctionData("balanceOf", [state.account])));
  const due = dueAfter(points);
  const escrow = escrowAddress();
  const from = state.account;
  const sendEscrow = async (data, value = 0n) => follow(await state.wallet.checkAndSend({ from, to: escrow, data, value }), "paid", paidText);
  if (!isToken()) {
    const data = points ? escrowInterface.encodeFunctionData("payWithPoints", [id, points]) : escrowInterface.encodeFunctionData("pay", [id]);
    return sendEscrow(data, due);
  }
  const token = invoice.currency.address;
  const held = BigInt(await state.wallet.read(token, tokenInterface.encodeFunctionData("balanceOf", [from])));
  if (held < due) {
    throw new Problem("insufficient_funds", `Your account holds ${money(held)} but this needs ${money(due)}, so nothing was sent.`);
  }
  const payData = points ? escrowInterface.encodeFunctionData("payWithPoints", [id, points]) : escrowInterface.encodeFunctionData("payToken", [id]);
  const allowed = BigInt(await state.wallet.read(token, tokenInterface.encodeFunctionData("allowance", [from, escrow])));
  if (allowed >= due) return sendEscrow(payData);
  if (state.permit === undefined) state.permit = await permitDomain(token);
  if (state.permit) {
    const signature = await signPermit(token, due);
    if (signature) {
      const { v, r, s } = ethers.Signature.from(signature.signature);
      return sendEscrow(escrowInterface.encodeFunctionData("payTokenWithPermit", [id, points, signature.deadline, v, r, s]));
    }
    state.permit = null; // the wallet cannot sign typed data: approve, then pay
    renderPayButton();
  }
  showMessage("step", `Step 1 of 2: approve the escrow to take ${money(due)} in your wallet.`);
  const approval = await state.wallet.checkAndSend({ from, to: token, data: tokenInterface.encodeFunctionData("approve", [escrow, due]), value: 0n });
  show("tx", true);
  setText("tx-state", "pending");
  setText("tx-hash", approval);
  setText("tx-block", "—");
  const approved = await state.wallet.waitForReceipt(approval);
  setText("tx-state", "approved");
  setText("tx-block", String(approved.blockNumber));
  showMessage("step", `Step 2 of 2: approved in block ${approved.blockNumber}; now send the payment from your wallet.`);
  return sendEscrow(payData);
}

/** The payer's EIP-2612 permit for the escrow to take `value`: {signature, deadline}, or null
 * when the wallet cannot sign typed data (the fallback then approves). A rejection is a Problem. */
async function signPermit(token, value) {
  const nonce = tokenInterface.decodeFunctionResult("nonces", await state.wallet.read(token, tokenInterface.encodeFunctionData("nonces", [state.account])))[0];
  const deadline = BigInt((await state.wallet.chainTime()) + PERMIT_SECONDS);
  const typedData = {
    types: {
      EIP712Domain: [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "chainId", type: "uint256" },
        { name: "verifyingContract", type: "address" },
      ],
      ...PERMIT_TYPES,
    },
    primaryType: "Permit",
    domain: state.permit,
    message: { owner: state.account, spender: escrowAddress(), value: value.toString(), nonce: nonce.toString(), deadline: deadline.toString() },
  };
  try {
    const signature = await state.wallet.request("eth_signTypedData_v4", [state.account, JSON.stringify(typedData)]);
    return { signature, deadline };
  } catch (error) {
    const code = error?.code;
    if (code === 4200 || code === -32601) return null; // the method is not supported
    throw explain(error);
  }
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
  if (problem && state.invoice.status !== "paid_off_chain") showProblem(problem); // that one has its own line
  $("pay").addEventListener("click", pay);
  $("points-input").addEventListener("input", () => updateControls());
  $("points-max").addEventListener("click", () => {
    $("points-input").value = ethers.formatUnits(mostPoints(), 18).replace(/\.0$/, "");
    updateControls();
  });
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
