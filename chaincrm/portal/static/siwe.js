// Sign-In with Ethereum (EIP-4361): the message the server verifies (domain, uri and chain id are
// checked there), signed by the wallet with personal_sign; the server sets the session cookie.
import { ethers } from "/static/vendor/ethers.min.js";
import { api } from "./api.js";

const SIWE_STATEMENT = "Sign in to your chaincrm records.";
const SIWE_LIFETIME_MS = 10 * 60 * 1000;

/** The EIP-4361 message for `address` on `chainId` with the server's `nonce`. */
export function siweMessage({ address, chainId, nonce, now = new Date() }) {
  const issuedAt = now.toISOString();
  const expirationTime = new Date(now.getTime() + SIWE_LIFETIME_MS).toISOString();
  return [
    `${location.host} wants you to sign in with your Ethereum account:`,
    address,
    "",
    SIWE_STATEMENT,
    "",
    `URI: ${location.origin}`,
    "Version: 1",
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Issued At: ${issuedAt}`,
    `Expiration Time: ${expirationTime}`,
  ].join("\n");
}

/** Connect `wallet`, put it on the deployment's chain, sign in; the server's answer. */
export async function signInWith(wallet, config) {
  const address = await wallet.connect();
  await wallet.ensureChain(config);
  const { nonce } = await api("/api/siwe/nonce");
  const message = siweMessage({ address: ethers.getAddress(address), chainId: config.chain_id, nonce });
  const signature = await wallet.personalSign(message, address);
  return api("/api/siwe/verify", { method: "POST", body: { message, signature } });
}
