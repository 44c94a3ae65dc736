// The contract calls the pages send and the custom errors they decode (names and arguments as in
// interfaces/*.sol; enums are uint8 in the ABI). Human-readable fragments for ethers.Interface.
import { ethers } from "/static/vendor/ethers.min.js";

const ESCROW_FUNCTIONS = [
  "function pay(uint256 invoiceId) payable",
  "function payToken(uint256 invoiceId)",
  "function payTokenWithPermit(uint256 invoiceId, uint256 points, uint256 deadline, uint8 v, bytes32 r, bytes32 s)",
  "function payWithPoints(uint256 invoiceId, uint256 points) payable",
  "function confirmDelivery(uint256 invoiceId)",
  "function dispute(uint256 invoiceId)",
];

// An ERC-20 with EIP-2612 permits (ERC-5267 names its EIP-712 domain), and the loyalty points.
const TOKEN_FUNCTIONS = [
  "function balanceOf(address account) view returns (uint256)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function approve(address spender, uint256 value) returns (bool)",
  "function nonces(address owner) view returns (uint256)",
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
];

const PIPELINE_FUNCTIONS = [
  "function acceptOffer((uint256 customerId, uint16 discountBps, uint64 expiry, uint32 maxUses, uint256 nonce) offer, address issuer, bytes signature, uint256 dealId, uint256 value, address currency) returns (uint256)",
  "function offerDigest((uint256 customerId, uint16 discountBps, uint64 expiry, uint32 maxUses, uint256 nonce) offer) view returns (bytes32)",
  "function offerUses(bytes32 digest) view returns (uint32)",
  "function offerCancelled(address issuer, uint256 nonce) view returns (bool)",
];

const REGISTRY_READS = ["function walletOf(uint256 customerId) view returns (address)"];

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
  "error InvoiceCurrencyMismatch(uint256 invoiceId, address currency)",
  "error InvoiceSettledOffChain(uint256 invoiceId)",
  "error TokenNotAllowed(address token)",
  "error TokenInvalid(address token)",
  "error PermitInvalid(address token)",
  "error TokenTransferShort(address token, uint256 expected, uint256 received)",
  "error LoyaltyNotSet()",
  "error PointsInsufficient(address account, uint256 held, uint256 wanted)",
  "error PointsDiscountTooLarge(uint256 invoiceId, uint256 discount, uint256 amount)",
  "error PointsNotRedeemable(address currency)",
  // ILoyaltyPoints
  "error PointsNotTransferable()",
  // IDealPipeline (offers)
  "error DealUnknown(uint256 dealId)",
  "error DealIsFinal(uint256 dealId, uint8 stage)",
  "error DealValueInvalid(uint256 valueWei, uint256 maxWei)",
  "error CustomerWalletMissing(uint256 customerId)",
  "error OfferExpired(uint256 expiry)",
  "error OfferSignatureInvalid(address issuer)",
  "error OfferIssuerNotManager(address issuer)",
  "error OfferUsedUp(bytes32 digest, uint32 maxUses)",
  "error OfferIsCancelled(address issuer, uint256 nonce)",
  "error OfferNotForCaller(uint256 customerId, address caller)",
  "error OfferDiscountInvalid(uint16 discountBps)",
  "error OfferTermsUnexpected(uint256 dealId)",
  "error DealAlreadyDiscounted(uint256 dealId)",
  "error DealNotOfCustomer(uint256 dealId, uint256 customerId)",
  // OpenZeppelin ERC-20 and permits
  "error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)",
  "error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)",
  "error ERC2612ExpiredSignature(uint256 deadline)",
  "error ERC2612InvalidSigner(address signer, address owner)",
  "error SafeERC20FailedOperation(address token)",
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
export const registryInterface = new ethers.Interface([...REGISTRY_FUNCTIONS, ...REGISTRY_READS, ...ERRORS]);
export const tokenInterface = new ethers.Interface([...TOKEN_FUNCTIONS, ...ERRORS]);
export const pipelineInterface = new ethers.Interface([...PIPELINE_FUNCTIONS, ...ERRORS]);

/** The invoice status codes of IInvoiceEscrow.InvoiceStatus, lower case as in the JSON API. */
export const INVOICE_STATUSES = ["none", "open", "paid", "disputed", "released", "refunded", "cancelled", "paid_off_chain"];

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
