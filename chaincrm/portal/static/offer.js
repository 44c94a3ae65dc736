// /offers/accept#<base64url of the offer JSON>: a manager's signed discount offer (written by
// `chaincrm offer issue`), read from the URL fragment, which the browser never sends to the server.
// The page shows the terms, checks them against the chain through the wallet (the customer's bound
// wallet, uses left, not withdrawn, not expired), and accepts by a transaction from that wallet:
// a new deal of a value the customer enters, or one of their open deals (listed after sign-in).
import { ethers } from "/static/vendor/ethers.min.js";
import { pipelineInterface, registryInterface } from "./abi.js";
import { api, loadConfig } from "./api.js";
import { dateTimeText, ethText, isoText } from "./format.js";
import { signInWith } from "./siwe.js";
import { busy, clearMessage, h, Problem, readJson, setText, show, showMessage, showProblem } from "./ui.js";
import { explain, mountWallets } from "./wallet.js";

const OPEN_STAGES = new Set(["lead", "qualified", "proposal", "negotiation", "contracting"]);
const OFFER_FIELDS = ["chain_id", "customer_id", "discount_bps", "expiry", "issuer", "max_uses", "nonce", "pipeline", "signature", "type"];
const UINT_LIMITS = { customer_id: 2n ** 64n - 1n, discount_bps: 9999n, expiry: 2n ** 64n - 1n, max_uses: 2n ** 32n - 1n, nonce: 2n ** 256n - 1n };
const OFFER_TYPES = {
  Offer: [
    { name: "customerId", type: "uint256" },
    { name: "discountBps", type: "uint16" },
    { name: "expiry", type: "uint64" },
    { name: "maxUses", type: "uint32" },
    { name: "nonce", type: "uint256" },
  ],
};
const SESSION_CODES = new Set(["session_missing", "session_expired"]);

const state = { config: null, offer: null, wallet: null, account: null, ready: false, sending: false, deals: [] };
const $ = (id) => document.getElementById(id);
let wallets = null;

function sameAddress(a, b) {
  return Boolean(a && b) && a.toLowerCase() === b.toLowerCase();
}

const invalid = (why) => new Problem("offer_invalid", `This link does not carry a valid offer (${why}); ask for a new link.`);

// ------------------------------------------------------------------ the offer in the link

function base64UrlText(text) {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw invalid("not base64url");
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4);
  let binary;
  try {
    binary = atob(padded);
  } catch {
    throw invalid("not base64url");
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    throw invalid("not UTF-8 text");
  }
}

function uint(fields, name) {
  const value = fields[name];
  const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== "string" || !/^[0-9]{1,78}$/.test(text)) throw invalid(`${name} is not a whole number`);
  const number = BigInt(text);
  if (number > UINT_LIMITS[name] || (name !== "nonce" && number === 0n)) throw invalid(`${name} is out of range`);
  return number;
}

function address(fields, name) {
  try {
    return ethers.getAddress(fields[name]);
  } catch {
    throw invalid(`${name} is not an address`);
  }
}

/** The offer JSON in `fragment` (without "#"), checked field by field as `Offer.from_json` does. */
export function parseOffer(fragment) {
  if (!fragment) throw new Problem("offer_missing", "This link carries no offer; open the full link you were sent.");
  let fields;
  try {
    fields = JSON.parse(base64UrlText(fragment));
  } catch (error) {
    if (error instanceof Problem) throw error;
    throw invalid("not JSON");
  }
  if (!fields || typeof fields !== "object" || Array.isArray(fields) || fields.type !== "Offer") throw invalid("not an Offer");
  const keys = Object.keys(fields).sort();
  if (keys.join(",") !== OFFER_FIELDS.join(",")) throw invalid(`fields ${keys.join(", ")}`);
  if (typeof fields.signature !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(fields.signature)) throw invalid("signature is not 65 bytes");
  if (!Number.isSafeInteger(fields.chain_id) || fields.chain_id <= 0) throw invalid("chain_id is not a chain id");
  return {
    chainId: fields.chain_id,
    pipeline: address(fields, "pipeline"),
    customerId: uint(fields, "customer_id"),
    discountBps: uint(fields, "discount_bps"),
    expiry: uint(fields, "expiry"),
    maxUses: uint(fields, "max_uses"),
    nonce: uint(fields, "nonce"),
    issuer: address(fields, "issuer"),
    signature: fields.signature,
  };
}

const offerStruct = (offer) => ({
  customerId: offer.customerId,
  discountBps: offer.discountBps,
  expiry: offer.expiry,
  maxUses: offer.maxUses,
  nonce: offer.nonce,
});

function digestOf(offer) {
  const domain = { name: "chaincrm DealPipeline", version: "1", chainId: offer.chainId, verifyingContract: offer.pipeline };
  return ethers.TypedDataEncoder.hash(domain, OFFER_TYPES, offerStruct(offer));
}

function percent(bps) {
  const whole = bps / 100n;
  const rest = bps % 100n;
  return rest ? `${whole}.${String(rest).padStart(2, "0").replace(/0+$/, "")}%` : `${whole}%`;
}

// ------------------------------------------------------------------ rendering

function setOfferState(code, text) {
  const badge = setText("offer-state", text);
  badge.dataset.state = code;
}

function renderOffer(offer, uses = null) {
  show("offer", true);
  setText("offer-discount", `${percent(offer.discountBps)} off`);
  setText("offer-customer", `Customer ${offer.customerId}`);
  $("offer-expiry").replaceChildren(h("time", { datetime: isoText(Number(offer.expiry)) }, dateTimeText(Number(offer.expiry))));
  const limit = offer.maxUses === 1n ? "once" : `${offer.maxUses} times`;
  setText("offer-uses", uses === null ? `Can be used ${limit}` : `Used ${uses} of ${offer.maxUses} (can be used ${limit})`);
  setText("offer-issuer", offer.issuer);
}

function setAccount(account) {
  state.account = account;
  setText("account", account || "");
  setText("wallet-name", state.wallet ? `(${state.wallet.name})` : "");
  show("account-line", Boolean(account));
}

function renderDeals() {
  const select = $("offer-deal");
  const eligible = state.deals.filter((deal) => OPEN_STAGES.has(deal.stage) && !deal.discount_bps);
  select.replaceChildren(
    ...eligible.map((deal) =>
      h("option", { value: String(deal.id) }, `Deal ${deal.id} — ${deal.stage}, ${deal.value_text !== undefined ? `${deal.value_text} ${deal.unit}` : ethText(deal.value_wei)}`),
    ),
  );
  select.disabled = state.sending || eligible.length === 0 || !$("target-deal").checked;
  $("target-deal").disabled = eligible.length === 0;
  if (eligible.length === 0 && $("target-deal").checked) $("target-new").checked = true;
  setText("deals-note", state.dealsLoaded ? (eligible.length ? "" : "You have no open deal without a discount.") : "");
  show("list-deals", state.ready && !state.dealsLoaded);
}

function updateControls() {
  show("accept-form", state.ready);
  $("offer-value").disabled = state.sending || !$("target-new").checked;
  renderDeals();
  $("accept").disabled = state.sending || !state.ready;
  wallets?.setActive(!state.ready);
}

// ------------------------------------------------------------------ checks through the wallet

async function read(to, iface, fn, args) {
  const raw = await state.wallet.read(to, iface.encodeFunctionData(fn, args));
  return iface.decodeFunctionResult(fn, raw)[0];
}

/** The offer as the chain sees it now; a Problem when it cannot be accepted by this account. */
async function checkOffer() {
  const offer = state.offer;
  const [bound, uses, cancelled, now] = await Promise.all([
    read(state.config.registry, registryInterface, "walletOf", [offer.customerId]),
    read(offer.pipeline, pipelineInterface, "offerUses", [digestOf(offer)]),
    read(offer.pipeline, pipelineInterface, "offerCancelled", [offer.issuer, offer.nonce]),
    state.wallet.chainTime(),
  ]);
  renderOffer(offer, uses);
  if (cancelled) {
    setOfferState("cancelled", "withdrawn");
    throw new Problem("offer_cancelled", "The issuer withdrew this offer, so it can no longer be accepted.");
  }
  if (BigInt(now) > offer.expiry) {
    setOfferState("expired", "expired");
    throw new Problem("offer_expired", `This offer expired on ${dateTimeText(Number(offer.expiry))}.`);
  }
  if (BigInt(uses) >= offer.maxUses) {
    setOfferState("used_up", "used up");
    throw new Problem("offer_used_up", "This offer has been used as many times as it allows.");
  }
  setOfferState("valid", "valid");
  if (!sameAddress(bound, state.account)) {
    throw new Problem(
      "wrong_account",
      `This offer is for customer ${offer.customerId}, whose wallet is ${ethers.getAddress(bound)}; your wallet is connected as ${state.account}, so switch account in your wallet.`,
    );
  }
}

async function choose(wallet) {
  if (state.sending) return;
  if (state.wallet !== wallet) {
    state.wallet = wallet;
    wallet.onChange(() => choose(wallet));
  }
  clearMessage();
  state.ready = false;
  try {
    setAccount(await wallet.connect());
    await wallet.ensureChain(state.config);
    await checkOffer();
    state.ready = true;
    await loadDeals(false);
  } catch (error) {
    showProblem(explain(error));
  }
  updateControls();
}

/** The customer's deals from /api/me (signed in as the connected account); with `signIn`, sign in first. */
async function loadDeals(signIn) {
  let me = null;
  try {
    if (signIn) await signInWith(state.wallet, state.config);
    me = await api("/api/me");
  } catch (error) {
    if (!(error instanceof Problem && SESSION_CODES.has(error.kind)) || signIn) throw error;
  }
  state.dealsLoaded = false;
  state.deals = [];
  if (!me || !sameAddress(me.address, state.account)) return;
  const customer = (me.customers || []).find((each) => String(each.id) === String(state.offer.customerId));
  state.deals = customer ? customer.deals || [] : [];
  state.dealsLoaded = true;
}

// ------------------------------------------------------------------ accepting

function acceptArguments() {
  const offer = state.offer;
  if ($("target-deal").checked) {
    const dealId = $("offer-deal").value;
    if (!dealId) throw new Problem("invalid_request", "Choose one of your open deals.");
    return { args: [offerStruct(offer), offer.issuer, offer.signature, BigInt(dealId), 0n, ethers.ZeroAddress], what: `deal ${dealId}` };
  }
  const text = $("offer-value").value.trim();
  let value;
  try {
    value = ethers.parseEther(text);
  } catch {
    throw new Problem("invalid_value", "Enter the new deal's value in ETH, such as 1.5.");
  }
  if (value <= 0n) throw new Problem("invalid_value", "Enter the new deal's value in ETH, above zero.");
  return { args: [offerStruct(offer), offer.issuer, offer.signature, 0n, value, ethers.ZeroAddress], what: "a new deal" };
}

/** The deal id of the receipt's OfferAccepted event (its third indexed argument). */
function acceptedDeal(receipt) {
  const accepted = ethers.id("OfferAccepted(bytes32,uint256,uint256,address,uint256,uint16,uint32)");
  const log = receipt.logs.find((entry) => entry.topics && entry.topics[0] === accepted);
  return log ? BigInt(log.topics[3]).toString() : null;
}

async function accept(event) {
  event.preventDefault();
  if (state.sending || !state.ready) return;
  state.sending = true;
  clearMessage();
  updateControls();
  try {
    await busy([$("accept")], async () => {
      const { args, what } = acceptArguments();
      await state.wallet.ensureChain(state.config);
      setAccount(await state.wallet.currentAccount());
      await checkOffer();
      const data = pipelineInterface.encodeFunctionData("acceptOffer", args);
      const hash = await state.wallet.checkAndSend({ from: state.account, to: state.offer.pipeline, data, value: 0n });
      show("tx", true);
      setText("tx-state", "pending");
      setText("tx-hash", hash);
      setText("tx-block", "—");
      const receipt = await state.wallet.waitForReceipt(hash);
      setText("tx-state", "confirmed");
      setText("tx-block", String(receipt.blockNumber));
      const dealId = acceptedDeal(receipt);
      renderOffer(state.offer, await read(state.offer.pipeline, pipelineInterface, "offerUses", [digestOf(state.offer)]));
      const target = what === "a new deal" && dealId ? `new deal ${dealId}` : what;
      showMessage("done", `Offer accepted in block ${receipt.blockNumber}: ${percent(state.offer.discountBps)} off ${target}, applied when its invoice is issued.`);
    });
  } catch (error) {
    showProblem(explain(error));
  } finally {
    state.sending = false;
    updateControls();
  }
}

// ------------------------------------------------------------------ start

async function start() {
  try {
    state.config = await loadConfig(readJson("page-config"));
    state.offer = parseOffer(location.hash.slice(1));
  } catch (error) {
    setOfferState("invalid", "invalid");
    showProblem(explain(error));
    $("connect").disabled = true;
    return;
  }
  const offer = state.offer;
  if (offer.chainId !== Number(state.config.chain_id) || !sameAddress(offer.pipeline, state.config.pipeline)) {
    setOfferState("invalid", "invalid");
    showProblem(new Problem("offer_invalid", `This offer is for another deployment (chain ${offer.chainId}, pipeline ${offer.pipeline}); it cannot be accepted here.`));
    $("connect").disabled = true;
    return;
  }
  renderOffer(offer);
  setOfferState("unchecked", "not checked yet");
  $("accept-form").addEventListener("submit", accept);
  for (const radio of [$("target-new"), $("target-deal")]) radio.addEventListener("change", updateControls);
  $("list-deals").addEventListener("click", async () => {
    clearMessage();
    try {
      await busy([$("list-deals")], () => loadDeals(true));
    } catch (error) {
      showProblem(explain(error));
    }
    $("list-deals").disabled = false;
    updateControls();
  });
  wallets = mountWallets({ picker: $("wallet-picker"), button: $("connect"), onChoose: choose });
  updateControls();
}

start();
