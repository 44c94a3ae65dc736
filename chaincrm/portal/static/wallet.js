// Browser wallets: EIP-6963 discovery (window.ethereum as the fallback), connecting, the chain and
// account checks, sending with checks first, and the mapping of wallet and node errors onto the
// page's message kinds. Raw EIP-1193 requests; ethers only encodes, decodes and checksums.
import { ethers } from "/static/vendor/ethers.min.js";
import { decodeRevert } from "./abi.js";
import { ethApprox, ethText } from "./format.js";
import { clearMessage, h, messageKind, Problem, showProblem } from "./ui.js";

const USER_REJECTED = 4001;
const UNAUTHORIZED = 4100;
const DISCONNECTED = 4900;
const CHAIN_DISCONNECTED = 4901;
const UNRECOGNIZED_CHAIN = 4902;

const RECEIPT_POLL_MS = 500;
const RECEIPT_TIMEOUT_MS = 300_000;
const NO_WALLET_GRACE_MS = 800;

/** One wallet: an EIP-1193 provider and its EIP-6963 info ({uuid, name, rdns, icon}). */
export class Wallet {
  constructor(provider, info) {
    this.provider = provider;
    this.info = info;
    this.account = null;
  }

  get name() {
    return this.info.name || "Browser wallet";
  }

  get rdns() {
    return this.info.rdns || "";
  }

  request(method, params) {
    return this.provider.request(params === undefined ? { method } : { method, params });
  }

  /** Ask for an account (the wallet's own prompt); the checksummed address. */
  async connect() {
    let accounts;
    try {
      accounts = await this.request("eth_requestAccounts");
    } catch (error) {
      throw explain(error);
    }
    if (!Array.isArray(accounts) || accounts.length === 0) {
      throw new Problem("rejected", "Your wallet shared no account with this page; unlock it and try again.");
    }
    this.account = ethers.getAddress(accounts[0]);
    return this.account;
  }

  /** The account the wallet uses now (after the user switched, say), without prompting. */
  async currentAccount() {
    const accounts = await this.call("eth_accounts");
    this.account = Array.isArray(accounts) && accounts.length ? ethers.getAddress(accounts[0]) : null;
    return this.account;
  }

  async chainId() {
    return Number(BigInt(await this.call("eth_chainId")));
  }

  /**
   * Make the wallet use the deployment's chain: switch, or add it (error 4902) and switch.
   * Problem("wrong_network") when the user refuses or the wallet cannot.
   */
  async ensureChain(config) {
    const wanted = Number(config.chain_id);
    if ((await this.chainId()) === wanted) return;
    const chainId = ethers.toQuantity(wanted);
    try {
      await this.request("wallet_switchEthereumChain", [{ chainId }]);
    } catch (error) {
      if (errorCode(error) !== UNRECOGNIZED_CHAIN) throw wrongNetwork(config, error);
      try {
        await this.request("wallet_addEthereumChain", [
          {
            chainId,
            chainName: config.chain_name,
            rpcUrls: [config.wallet_rpc_url],
            nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
          },
        ]);
        if ((await this.chainId()) !== wanted) {
          await this.request("wallet_switchEthereumChain", [{ chainId }]);
        }
      } catch (addError) {
        throw wrongNetwork(config, addError);
      }
    }
    if ((await this.chainId()) !== wanted) throw wrongNetwork(config);
  }

  /** A read through the wallet's node; failures become Problems (node_unreachable and the like). */
  async call(method, params) {
    try {
      return await this.request(method, params);
    } catch (error) {
      throw explain(error);
    }
  }

  async balance(address) {
    return BigInt(await this.call("eth_getBalance", [address, "latest"]));
  }

  /** A view call through the wallet's node: the raw result (revert: a Problem, decoded). */
  async read(to, data) {
    return this.call("eth_call", [{ to, data }, "latest"]);
  }

  /** The latest block's timestamp (the chain's clock, which may run ahead of the wall clock). */
  async chainTime() {
    const block = await this.call("eth_getBlockByNumber", ["latest", false]);
    return Number(BigInt(block.timestamp));
  }

  /** EIP-747: ask the wallet to show an ERC-20 (`{address, symbol, decimals}`); true when added. */
  async watchAsset(options) {
    try {
      return await this.request("wallet_watchAsset", { type: "ERC20", options });
    } catch (error) {
      throw explain(error);
    }
  }

  /**
   * Check, then send: the balance covers value + fee, and a dry run (eth_estimateGas) passes, so
   * a revert (already paid, cancelled, ...) is reported before anything is signed. The hash.
   * `tx` = {from, to, data, value?: bigint}; `feeHint` is added to an insufficient-funds message.
   */
  async checkAndSend(tx, { feeHint = "" } = {}) {
    const value = tx.value ?? 0n;
    const request = { from: tx.from, to: tx.to, data: tx.data, value: ethers.toQuantity(value) };
    const balance = await this.balance(tx.from);
    if (balance < value) throw insufficientFunds(balance, value, null, feeHint);
    let gas;
    try {
      gas = BigInt(await this.request("eth_estimateGas", [request]));
    } catch (error) {
      throw explain(error);
    }
    const price = BigInt(await this.call("eth_gasPrice"));
    const fee = gas * price;
    if (balance < value + fee) throw insufficientFunds(balance, value, fee, feeHint);
    // 20% above the estimate: the state may move a little between the dry run and the block.
    const limit = (gas * 12n) / 10n;
    try {
      return await this.request("eth_sendTransaction", [{ ...request, gas: ethers.toQuantity(limit) }]);
    } catch (error) {
      throw explain(error);
    }
  }

  /** Poll for the receipt; {hash, blockNumber, status, gasUsed, logs}. Problem on a revert. */
  async waitForReceipt(hash) {
    const started = Date.now();
    let failures = 0;
    for (;;) {
      let receipt = null;
      try {
        receipt = await this.request("eth_getTransactionReceipt", [hash]);
        failures = 0;
      } catch (error) {
        failures += 1;
        if (failures >= 10) throw explain(error);
      }
      if (receipt && receipt.blockNumber) {
        const result = {
          hash,
          blockNumber: Number(BigInt(receipt.blockNumber)),
          status: Number(BigInt(receipt.status ?? "0x1")),
          gasUsed: receipt.gasUsed ? BigInt(receipt.gasUsed) : 0n,
          logs: Array.isArray(receipt.logs) ? receipt.logs : [],
        };
        if (result.status !== 1) {
          throw new Problem("contract_refused", `The transaction was reverted in block ${result.blockNumber}; no money moved.`, result);
        }
        return result;
      }
      if (Date.now() - started > RECEIPT_TIMEOUT_MS) {
        throw new Problem("node_unreachable", "The transaction has not been mined after five minutes; check it in your wallet.");
      }
      await sleep(RECEIPT_POLL_MS);
    }
  }

  async personalSign(message, address) {
    try {
      return await this.request("personal_sign", [ethers.hexlify(ethers.toUtf8Bytes(message)), address]);
    } catch (error) {
      throw explain(error);
    }
  }

  async signTypedData(address, typedData) {
    try {
      return await this.request("eth_signTypedData_v4", [address, JSON.stringify(typedData)]);
    } catch (error) {
      throw explain(error);
    }
  }

  /** Call `handler` when the user switches account or chain in the wallet. */
  onChange(handler) {
    if (typeof this.provider.on !== "function") return;
    this.provider.on("accountsChanged", () => handler("accounts"));
    this.provider.on("chainChanged", () => handler("chain"));
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Listen for EIP-6963 announcements and ask wallets to announce; `onChange(wallets)` runs on each
 * new one. Without any announcement, window.ethereum (a legacy injected wallet) is the one wallet.
 */
export function discoverWallets(onChange) {
  const announced = new Map();
  let legacy = null;

  function list() {
    if (announced.size) return [...announced.values()];
    if (window.ethereum && typeof window.ethereum.request === "function") {
      if (!legacy || legacy.provider !== window.ethereum) {
        const name = window.ethereum.isMetaMask ? "MetaMask" : "Browser wallet";
        legacy = new Wallet(window.ethereum, { uuid: "window.ethereum", name, rdns: "window.ethereum" });
      }
      return [legacy];
    }
    return [];
  }

  window.addEventListener("eip6963:announceProvider", (event) => {
    const { info, provider } = event.detail || {};
    if (!info || !provider || typeof provider.request !== "function") return;
    const key = info.uuid || info.rdns || info.name;
    if (announced.has(key)) return;
    announced.set(key, new Wallet(provider, info));
    onChange(list());
  });
  // Some injected wallets set window.ethereum after the page has loaded and say so.
  window.addEventListener("ethereum#initialized", () => onChange(list()), { once: true });
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  return { list };
}

/** Fill #wallet-picker with one button.wallet-option[data-rdns] per wallet. */
export function renderPicker(picker, wallets, onChoose) {
  const list = picker.querySelector(".wallet-options") || picker;
  list.replaceChildren(
    ...wallets.map((wallet) => {
      const button = h("button", { type: "button", class: "wallet-option", dataset: { rdns: wallet.rdns } }, wallet.name);
      button.addEventListener("click", () => onChoose(wallet, button));
      return button;
    }),
  );
}

export const NO_WALLET = () =>
  new Problem("no_wallet", "No browser wallet was found; install or enable one (such as MetaMask) and reload this page.");

/** The EIP-1193 / JSON-RPC error code, wherever the wallet put it. */
function errorCode(error) {
  if (!error || typeof error !== "object") return undefined;
  if (error.code !== undefined && error.code !== -32603) return error.code;
  return error.data?.originalError?.code ?? error.cause?.code ?? error.code;
}

export function wrongNetwork(config, cause = null) {
  const detail = cause ? { code: errorCode(cause) } : null;
  return new Problem(
    "wrong_network",
    `Your wallet is on another network; switch it to ${config.chain_name} (chain id ${config.chain_id}) to continue.`,
    detail,
  );
}

function insufficientFunds(balance, value, fee, hint) {
  const needs = value > 0n ? `${ethText(value)}${fee === null ? "" : ` plus about ${ethApprox(fee)} for the network fee`}` : `about ${ethApprox(fee ?? 0n)} for the network fee`;
  const text = `Your account holds ${ethApprox(balance)} but this needs ${needs}, so nothing was sent.`;
  return new Problem("insufficient_funds", hint ? `${text.slice(0, -1)}; ${hint}.` : text);
}

function* walk(error) {
  const seen = new Set();
  const queue = [error];
  while (queue.length) {
    const node = queue.shift();
    if (node === null || node === undefined || seen.has(node)) continue;
    if (typeof node === "object") seen.add(node);
    yield node;
    if (typeof node === "object" && seen.size < 50) {
      for (const key of ["data", "error", "cause", "originalError", "info", "revert"]) {
        if (key in node) queue.push(node[key]);
      }
    }
  }
}

function messagesOf(error) {
  const texts = [];
  for (const node of walk(error)) {
    if (typeof node === "string") texts.push(node);
    else if (typeof node === "object" && typeof node.message === "string") texts.push(node.message);
  }
  return texts.join(" | ");
}

/** The decoded revert ({name, args}) carried by a wallet or node error, or null. */
export function findRevert(error) {
  for (const node of walk(error)) {
    if (typeof node === "string" && /^0x[0-9a-fA-F]{8}/.test(node)) {
      const decoded = decodeRevert(node);
      if (decoded) return decoded;
      return { name: `an unknown error (${node.slice(0, 10)})`, args: {}, unknown: true };
    }
  }
  // Some nodes only put it in the text: "execution reverted: custom error 0x1234abcd: 0000...".
  const match = /custom error (0x[0-9a-fA-F]{8})(?::\s*(?:0x)?([0-9a-fA-F]*))?/.exec(messagesOf(error));
  if (match) return decodeRevert(match[1] + (match[2] || "")) || { name: `an unknown error (${match[1]})`, args: {}, unknown: true };
  return null;
}

const points = (value) => `${ethers.formatUnits(BigInt(value), 18)} points`;
const NOTHING_SENT = ", so nothing was sent.";

/** Custom errors of the escrow and the pipeline: [message kind, sentence from the error's arguments]. */
const REVERT_MESSAGES = {
  InvoiceSettledOffChain: ["paid_off_chain", () => `This invoice was already paid by bank transfer or card${NOTHING_SENT}`],
  InvoiceCurrencyMismatch: ["contract_refused", () => `This invoice is payable in another currency than the one sent${NOTHING_SENT}`],
  PointsInsufficient: ["points_insufficient", (a) => `You hold ${points(a.held)} but asked to redeem ${points(a.wanted)}${NOTHING_SENT}`],
  PointsDiscountTooLarge: [
    "points_discount_too_large",
    () => `Those points would pay the whole invoice, and something must be left to pay; redeem fewer points${NOTHING_SENT}`,
  ],
  PointsNotRedeemable: ["points_not_redeemable", () => `Loyalty points cannot be redeemed on an invoice in this currency${NOTHING_SENT}`],
  LoyaltyNotSet: ["points_not_redeemable", () => `Loyalty points cannot be redeemed here yet${NOTHING_SENT}`],
  PointsNotTransferable: ["points_not_transferable", () => `Loyalty points cannot be sent to another account${NOTHING_SENT}`],
  PermitInvalid: ["permit_invalid", () => `The token refused the signed approval (permit); pay with "approve, then pay" instead${NOTHING_SENT}`],
  TokenTransferShort: ["token_transfer_short", () => `The token delivered less than the amount due (a fee on transfer), so the payment was refused and nothing was sent.`],
  ERC20InsufficientBalance: ["insufficient_funds", () => `Your account does not hold enough of the invoice's token${NOTHING_SENT}`],
  ERC20InsufficientAllowance: ["contract_refused", () => `The escrow is not approved for the amount due; approve it first${NOTHING_SENT}`],
  ERC2612ExpiredSignature: ["permit_invalid", () => `The signed approval (permit) expired before it was sent; pay again${NOTHING_SENT}`],
  OfferExpired: ["offer_expired", () => `This offer has expired${NOTHING_SENT}`],
  OfferUsedUp: ["offer_used_up", (a) => `This offer was already used ${a.maxUses === "1" ? "once, its only use" : `${a.maxUses} times, its limit`}${NOTHING_SENT}`],
  OfferIsCancelled: ["offer_cancelled", () => `The issuer withdrew this offer${NOTHING_SENT}`],
  OfferNotForCaller: [
    "wrong_account",
    (a) => `This offer is for customer ${a.customerId}; accept it from that customer's wallet (not ${a.caller})${NOTHING_SENT}`,
  ],
  OfferSignatureInvalid: ["offer_invalid", () => `This offer's signature does not match its terms (the link may be damaged)${NOTHING_SENT}`],
  OfferIssuerNotManager: ["offer_invalid", () => `Whoever signed this offer is no longer a manager, so it cannot be accepted${NOTHING_SENT}`],
  OfferDiscountInvalid: ["offer_invalid", () => `This offer's discount is not valid${NOTHING_SENT}`],
  OfferTermsUnexpected: ["invalid_request", () => `A discount on an existing deal takes no value or currency${NOTHING_SENT}`],
  DealAlreadyDiscounted: ["deal_already_discounted", (a) => `Deal ${a.dealId} already has a discount${NOTHING_SENT}`],
  DealNotOfCustomer: ["deal_not_of_customer", (a) => `Deal ${a.dealId} is not one of customer ${a.customerId}'s deals${NOTHING_SENT}`],
  DealIsFinal: ["deal_is_final", (a) => `Deal ${a.dealId} is already closed${NOTHING_SENT}`],
  DealValueInvalid: ["invalid_value", () => `That value is not accepted for a deal (it must be above zero and within the limit)${NOTHING_SENT}`],
  TokenNotAllowed: ["token_not_allowed", () => `That token is not accepted for payments${NOTHING_SENT}`],
  CustomerWalletMissing: ["wrong_account", (a) => `Customer ${a.customerId} has no wallet bound, so the offer cannot be accepted${NOTHING_SENT}`],
};

/** A revert as the page's message kind. */
export function revertProblem(revert) {
  const { name, args } = revert;
  if (name === "InvoiceAlreadyPaid") return new Problem("already_paid", "This invoice has already been paid, so nothing was sent.", revert);
  if (name === "InvoiceIsCancelled") return new Problem("cancelled", "This invoice was cancelled and can no longer be paid, so nothing was sent.", revert);
  if (name === "InvoiceNotOpen") {
    if (String(args.status) === "7") return revertProblem({ name: "InvoiceSettledOffChain", args });
    return String(args.status) === "6"
      ? new Problem("cancelled", "This invoice was cancelled and can no longer be paid, so nothing was sent.", revert)
      : new Problem("already_paid", "This invoice has already been paid, so nothing was sent.", revert);
  }
  if (name === "InvoicePayerMismatch") {
    return new Problem("wrong_account", `This invoice must be paid from ${args.expected}; switch to that account in your wallet.`, revert);
  }
  const known = REVERT_MESSAGES[name];
  if (known) return new Problem(known[0], known[1](args), revert);
  const shown = Object.keys(args).length ? `${name}(${Object.entries(args).map(([k, v]) => `${k}=${v}`).join(", ")})` : name;
  return new Problem("contract_refused", `The contract refused this with ${shown}, so nothing was sent.`, revert);
}

/** Any wallet or node error as a Problem with one of the page's message kinds. */
export function explain(error) {
  if (error instanceof Problem) return error;
  const code = errorCode(error);
  if (code === USER_REJECTED || code === "ACTION_REJECTED") {
    return new Problem("rejected", "You rejected the request in your wallet, so nothing was sent.");
  }
  if (code === UNAUTHORIZED) {
    return new Problem("rejected", "Your wallet has not allowed this page to use the account; connect again and approve it.");
  }
  const revert = findRevert(error);
  if (revert) return revertProblem(revert);
  const text = messagesOf(error).toLowerCase();
  if (text.includes("insufficient funds")) {
    return new Problem("insufficient_funds", "Your account does not hold enough ETH for this amount and the network fee, so nothing was sent.");
  }
  if (code === 3 || text.includes("execution reverted")) {
    return new Problem("contract_refused", "The contract refused this transaction, so nothing was sent.");
  }
  if (code === DISCONNECTED || code === CHAIN_DISCONNECTED) {
    return new Problem("node_unreachable", "Your wallet is disconnected from the network; reconnect it and try again.");
  }
  return new Problem("node_unreachable", "Your wallet could not reach the network node, so nothing was sent; try again in a moment.");
}

/**
 * The connect controls of a page: `button` (#connect or #sign-in) when there is one wallet, the
 * `picker` (#wallet-picker) when there are several; `onChoose(wallet)` when the user picks one.
 * Without a wallet: message no_wallet (shortly after load, or on a click).
 */
export function mountWallets({ picker, button, onChoose }) {
  let active = true;
  let discovery = null;

  function refresh() {
    if (!discovery) return; // an announcement during discoverWallets(): refreshed right after
    const wallets = discovery.list();
    const several = wallets.length > 1;
    renderPicker(picker, wallets, (wallet) => onChoose(wallet));
    picker.hidden = !(active && several);
    button.hidden = !active || several;
    if (wallets.length) clearMessage("no_wallet");
  }

  discovery = discoverWallets(() => refresh());
  button.addEventListener("click", () => {
    const wallets = discovery.list();
    if (wallets.length === 0) showProblem(NO_WALLET());
    else onChoose(wallets[0]);
  });
  // Extensions answer eip6963:requestProvider at once; give slow ones a moment before saying so.
  setTimeout(() => {
    if (discovery.list().length === 0 && messageKind() === "") showProblem(NO_WALLET());
  }, NO_WALLET_GRACE_MS);
  refresh();
  return {
    list: () => discovery.list(),
    setActive(value) {
      active = value;
      refresh();
    },
  };
}
