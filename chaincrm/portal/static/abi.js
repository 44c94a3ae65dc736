// The contract calls the pages send and the custom errors they decode (names and arguments as in
// interfaces/*.sol; enums are uint8 in the ABI). Human-readable fragments for ethers.Interface.
import { ethers } from "/static/vendor/ethers.min.js";

const ESCROW_FUNCTIONS = [
  "function pay(uint256 invoiceId) payable",
  "function confirmDelivery(uint256 invoiceId)",
  "function dispute(uint256 invoiceId)",
];

const REGISTRY_FUNCTIONS = [
  "function setConsent(uint256 customerId, uint8 purpose, bool granted)",
  "function revokeAccessBySig(uint256 customerId, address staff, uint256 deadline, bytes signature)",
];

// Every custom error the escrow, the registry and the pipeline can raise, once each (the same
// signature declared in two interfaces is one selector).
const ERRORS = [
  // IInvoiceEscrow
  "error InvoiceUnknown(uint256 invoiceId)",
  "error InvoicePayerMismatch(uint256 invoiceId, address expected, address caller)",
  "error InvoiceAmountMismatch(uint256 invoiceId, uint256 expected, uint256 sent)",
  "error InvoiceAlreadyPaid(uint256 invoiceId)",
  "error InvoiceIsCancelled(uint256 invoiceId)",
  "error InvoiceNotOpen(uint256 invoiceId, uint8 status)",
  "error InvoiceNotInEscrow(uint256 invoiceId, uint8 status)",
  "error InvoiceNotDisputed(uint256 invoiceId, uint8 status)",
  "error InvoiceDisputedByPayer(uint256 invoiceId)",
  "error InvoiceAmountInvalid(uint256 amount)",
  "error InvoicePayerMissing(uint256 dealId)",
  "error CallerNotIssuer(address caller)",
  "error CallerCannotRelease(uint256 invoiceId, address caller)",
  "error DisputeWindowOpen(uint256 invoiceId, uint256 endsAt)",
  "error DisputeWindowClosed(uint256 invoiceId, uint256 endedAt)",
  "error DisputeResolutionOpen(uint256 invoiceId, uint256 resolveBy)",
  "error DisputeResolutionExpired(uint256 invoiceId, uint256 resolveBy)",
  "error NothingToWithdraw(address account)",
  "error IdOutOfRange(uint256 id)",
  "error TransferFailed(address to, uint256 amount)",
  // ICustomerRegistry
  "error CustomerUnknown(uint256 customerId)",
  "error CustomerIsErased(uint256 customerId)",
  "error PurposeInvalid(uint8 purpose)",
  "error PurposeNeedsConsent(uint256 customerId, uint8 purpose)",
  "error CallerNotCustomer(uint256 customerId, address caller)",
  "error CallerNotManagerOrCustomer(uint256 customerId, address caller)",
  "error CallerWithoutAccess(uint256 customerId, address caller)",
  "error AccessNotGranted(uint256 customerId, address staff)",
  "error ConsentUnchanged(uint256 customerId, uint8 purpose, bool granted)",
  "error WalletInvalid(uint256 customerId, address wallet)",
  "error SignatureExpired(uint256 deadline)",
  "error SignatureInvalid(address signer)",
  "error SignatureNoncesExhausted(uint256 customerId)",
  // OpenZeppelin
  "error AccessControlUnauthorizedAccount(address account, bytes32 neededRole)",
  "error ReentrancyGuardReentrantCall()",
  "error ECDSAInvalidSignature()",
  "error ECDSAInvalidSignatureLength(uint256 length)",
  "error ECDSAInvalidSignatureS(bytes32 s)",
];

export const escrowInterface = new ethers.Interface([...ESCROW_FUNCTIONS, ...ERRORS]);
export const registryInterface = new ethers.Interface([...REGISTRY_FUNCTIONS, ...ERRORS]);

/** The invoice status codes of IInvoiceEscrow.InvoiceStatus, lower case as in the JSON API. */
export const INVOICE_STATUSES = ["none", "open", "paid", "disputed", "released", "refunded", "cancelled"];

/** Purpose codes of ICustomerRegistry (chaincrm.models.Purpose). */
export const PURPOSE_CODES = Object.freeze({
  sales: 1,
  support: 2,
  billing: 3,
  marketing: 4,
  audit: 5,
  profiling: 6,
  third_party_sharing: 7,
});

/**
 * Decode revert data ("0x" + selector + arguments) into {name, args}, or null when it is not one
 * of the errors above. Arguments are decimal strings or addresses.
 */
export function decodeRevert(data) {
  if (typeof data !== "string" || !/^0x[0-9a-fA-F]{8}/.test(data)) return null;
  const selector = data.slice(0, 10).toLowerCase();
  let fragment;
  try {
    fragment = escrowInterface.getError(selector);
  } catch {
    return null;
  }
  if (!fragment) return null;
  try {
    const values = escrowInterface.decodeErrorResult(fragment, data);
    const args = {};
    fragment.inputs.forEach((input, i) => {
      const value = values[i];
      args[input.name] = typeof value === "bigint" ? value.toString() : value;
    });
    return { name: fragment.name, args };
  } catch {
    return { name: fragment.name, args: {} };
  }
}
