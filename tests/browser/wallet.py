"""A test wallet for the browser tests, behaving like a browser extension.

`wallet.js` is injected into the page before any page script: it builds one EIP-1193 provider per
wallet, announces each through EIP-6963 and sets the first as `window.ethereum`. Every request the
page makes goes through a Playwright binding to `TestWallet.handle` here, as an extension's page
script talks to its background worker: the keys live here and so does the node connection, so the
page never talks to Anvil itself (only to the portal's origin).

A test steers the wallet as a user would steer theirs: which account is selected, which chain it is
on and which chains it knows, rejecting the next request(s) (code 4001), refusing to switch chains,
or losing its node, or lacking eth_signTypedData_v4 (`typed_data_unsupported`). Every request is
recorded (`requests`), every transaction it sent (`sent`), everything it signed (`signed`, typed
data included: EIP-2612 permits) and every token it was asked to show (`watched`, EIP-747
wallet_watchAsset), so a test can assert what the page asked and that nothing was sent.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from playwright.sync_api import Page

SCRIPT = Path(__file__).with_name("wallet.js")
BINDING = "__chaincrmTestWallet"
EMITTER = "__chaincrmTestWalletEmit"
MAINNET = 1
RPC_TIMEOUT_SECONDS = 10.0
GAS_BUFFER_PERCENT = 120  # what wallets add to eth_estimateGas
UNREACHABLE_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there

# EIP-1193 / EIP-1474 / EIP-3326 codes
USER_REJECTED = 4001
UNAUTHORIZED = 4100
UNSUPPORTED_METHOD = 4200
UNRECOGNIZED_CHAIN = 4902
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

USER_METHODS = frozenset(
    {
        "eth_requestAccounts",
        "wallet_requestPermissions",
        "personal_sign",
        "eth_signTypedData_v4",
        "eth_sendTransaction",
        "wallet_switchEthereumChain",
        "wallet_addEthereumChain",
        "wallet_watchAsset",
    }
)
READ_METHODS = frozenset(
    {
        "eth_blockNumber",
        "eth_call",
        "eth_estimateGas",
        "eth_feeHistory",
        "eth_gasPrice",
        "eth_getBalance",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getCode",
        "eth_getLogs",
        "eth_getStorageAt",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_getTransactionReceipt",
        "eth_maxPriorityFeePerGas",
    }
)


def _icon(colour: str) -> str:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<circle cx="16" cy="16" r="14" fill="{colour}"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@dataclass(frozen=True)
class WalletInfo:
    """EIP-6963 provider info."""

    name: str
    rdns: str
    icon: str
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, str]:
        return {"uuid": self.uuid, "name": self.name, "icon": self.icon, "rdns": self.rdns}


TEST_WALLET = WalletInfo("chaincrm Test Wallet", "org.chaincrm.testwallet", _icon("#2a6f97"))
OTHER_WALLET = WalletInfo("Other Test Wallet", "org.example.otherwallet", _icon("#b5651d"))


@dataclass(frozen=True)
class Request:
    method: str
    params: Any
    error_code: int | None  # None when answered


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass
class KnownChain:
    chain_id: int
    name: str
    rpc_url: str | None  # None: a chain whose node this machine cannot reach (mainnet)


class TestWallet:
    """One wallet extension: its accounts, the chains it knows and the one it is on."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        accounts: Sequence[LocalAccount],
        *,
        rpc_url: str,
        chain_id: int,
        info: WalletInfo = TEST_WALLET,
        start_on_mainnet: bool = False,
    ) -> None:
        """A wallet that knows the local chain (`chain_id` at `rpc_url`) and is on it; with
        `start_on_mainnet` it knows only mainnet and is on it, as a freshly installed wallet."""
        self.info = info
        self.accounts = list(accounts)
        self.selected = self.accounts[0]
        self.connected = False
        self.chains: dict[int, KnownChain] = {MAINNET: KnownChain(MAINNET, "Ethereum Mainnet", None)}
        if start_on_mainnet:
            self.chain_id = MAINNET
        else:
            self.chains[chain_id] = KnownChain(chain_id, "local", rpc_url)
            self.chain_id = chain_id
        self.refuse_switching = False
        self.typed_data_unsupported = False  # a wallet without eth_signTypedData_v4 (answers 4200)
        self.watched: list[dict[str, Any]] = []  # the assets wallet_watchAsset added (EIP-747 options)
        self.requests: list[Request] = []
        self.sent: list[str] = []  # transaction hashes this wallet sent
        self.signed: list[tuple[str, Any, str]] = []  # (method, what was signed, signature)
        self.internal_errors: list[str] = []  # the wallet's own bugs: a test asserts there are none
        self._rejections: list[str | None] = []
        self._page: Page | None = None
        self._index = 0
        self._http = httpx.Client(timeout=RPC_TIMEOUT_SECONDS)

    # ------------------------------------------------------------------ what a test steers

    def reject_next(self, count: int = 1, *, method: str | None = None) -> None:
        """The user rejects the next `count` requests that need approval (of `method` only, if given)."""
        self._rejections.extend([method] * count)

    def select(self, account: LocalAccount) -> None:
        """The user selects another account; a connected page hears accountsChanged."""
        self.selected = account
        if self.connected:
            self._emit("accountsChanged", [account.address])

    def node_unreachable(self) -> None:
        """The wallet's node for the current chain stops answering."""
        self.chains[self.chain_id].rpc_url = UNREACHABLE_URL

    def methods(self) -> list[str]:
        return [request.method for request in self.requests]

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ the extension's side

    def attach(self, page: Page, index: int) -> None:
        self._page, self._index = page, index

    def _emit(self, event: str, payload: Any) -> None:
        assert self._page is not None, "the wallet is not installed in a page"
        self._page.evaluate("([e, i, n, p]) => window[e](i, n, p)", [EMITTER, self._index, event, payload])

    def handle(self, method: str, params: Any) -> dict[str, Any]:
        """Answer one EIP-1193 request: {"result": ...} or {"error": {code, message[, data]}},
        plus the events it causes ({"events": [[name, payload], ...]})."""
        events: list[list[Any]] = []
        try:
            if method in USER_METHODS and self._rejections and self._rejections[0] in (None, method):
                self._rejections.pop(0)
                raise RpcError(USER_REJECTED, "User rejected the request.")
            result = self._answer(method, params if isinstance(params, list) else [params], events)
        except RpcError as error:
            self.requests.append(Request(method, params, error.code))
            return {"error": error.to_json(), "events": events}
        except Exception as error:  # noqa: BLE001 - a wallet bug must reach the page as an RPC error
            self.internal_errors.append(f"{method}: {error!r}")
            self.requests.append(Request(method, params, INTERNAL_ERROR))
            return {"error": {"code": INTERNAL_ERROR, "message": f"test wallet failed: {error}"}, "events": events}
        self.requests.append(Request(method, params, None))
        return {"result": result, "events": events}

    def _answer(self, method: str, params: list[Any], events: list[list[Any]]) -> Any:
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "net_version":
            return str(self.chain_id)
        if method == "eth_accounts":
            return [self.selected.address] if self.connected else []
        if method in ("eth_requestAccounts", "wallet_requestPermissions"):
            if not self.connected:
                self.connected = True
                events.append(["connect", {"chainId": hex(self.chain_id)}])
                events.append(["accountsChanged", [self.selected.address]])
            if method == "wallet_requestPermissions":
                return [{"parentCapability": "eth_accounts", "caveats": []}]
            return [self.selected.address]
        if method == "wallet_getPermissions":
            return [{"parentCapability": "eth_accounts", "caveats": []}] if self.connected else []
        if method == "wallet_switchEthereumChain":
            return self._switch(_chain_id_param(params), events)
        if method == "wallet_addEthereumChain":
            return self._add_chain(params)
        if method == "personal_sign":
            return self._personal_sign(params)
        if method == "eth_signTypedData_v4":
            if self.typed_data_unsupported:
                raise RpcError(UNSUPPORTED_METHOD, "The test wallet does not support eth_signTypedData_v4.")
            return self._sign_typed_data(params)
        if method == "wallet_watchAsset":
            return self._watch_asset(params)
        if method == "eth_sendTransaction":
            return self._send_transaction(params)
        if method in READ_METHODS:
            return self._rpc(method, params)
        raise RpcError(UNSUPPORTED_METHOD, f"The test wallet does not support {method}.")

    # ------------------------------------------------------------------ chains

    def _switch(self, chain_id: int, events: list[list[Any]]) -> None:
        if self.refuse_switching:
            raise RpcError(USER_REJECTED, "User rejected the request.")
        if chain_id not in self.chains:
            raise RpcError(UNRECOGNIZED_CHAIN, f"Unrecognized chain ID {hex(chain_id)}. Try adding the chain first.")
        if chain_id != self.chain_id:
            self.chain_id = chain_id
            events.append(["chainChanged", hex(chain_id)])
        return None

    def _add_chain(self, params: list[Any]) -> None:
        spec = params[0] if params and isinstance(params[0], dict) else None
        if spec is None:
            raise RpcError(INVALID_PARAMS, "wallet_addEthereumChain expects [{chainId, chainName, rpcUrls, ...}]")
        chain_id = _chain_id_param(params)
        rpc_urls = spec.get("rpcUrls")
        currency = spec.get("nativeCurrency") or {}
        if not isinstance(rpc_urls, list) or not rpc_urls or not all(isinstance(u, str) for u in rpc_urls):
            raise RpcError(INVALID_PARAMS, "rpcUrls must be a non-empty list of URLs")
        if not isinstance(spec.get("chainName"), str) or not spec["chainName"]:
            raise RpcError(INVALID_PARAMS, "chainName is required")
        if currency.get("decimals") != 18 or not currency.get("symbol"):
            raise RpcError(INVALID_PARAMS, "nativeCurrency must have a symbol and 18 decimals")
        actual = self._rpc_at(rpc_urls[0], "eth_chainId", [])
        if int(actual, 16) != chain_id:
            raise RpcError(INVALID_PARAMS, f"the node at {rpc_urls[0]} is on chain {int(actual, 16)}, not {chain_id}")
        self.chains[chain_id] = KnownChain(chain_id, spec["chainName"], rpc_urls[0])
        return None

    # ------------------------------------------------------------------ signing

    def _check_account(self, address: Any) -> None:
        if not isinstance(address, str) or address.lower() != self.selected.address.lower():
            raise RpcError(UNAUTHORIZED, f"The account {address} is not the selected one.")
        if not self.connected:
            raise RpcError(UNAUTHORIZED, "The page is not connected; call eth_requestAccounts first.")

    def _personal_sign(self, params: list[Any]) -> str:
        if len(params) < 2 or not isinstance(params[0], str):
            raise RpcError(INVALID_PARAMS, "personal_sign expects [message, address]")
        message, address = params[0], params[1]
        self._check_account(address)
        data = bytes.fromhex(message[2:]) if message.startswith("0x") else message.encode()
        signature = "0x" + self.selected.sign_message(encode_defunct(primitive=data)).signature.hex().removeprefix("0x")
        self.signed.append(("personal_sign", data.decode(errors="replace"), signature))
        return signature

    def _sign_typed_data(self, params: list[Any]) -> str:
        if len(params) < 2:
            raise RpcError(INVALID_PARAMS, "eth_signTypedData_v4 expects [address, typedData]")
        address, typed = params[0], params[1]
        self._check_account(address)
        data = json.loads(typed) if isinstance(typed, str) else typed
        domain_chain = data.get("domain", {}).get("chainId")
        if domain_chain is not None and int(domain_chain) != self.chain_id:
            # MetaMask refuses typed data for another chain than the one it is on.
            raise RpcError(INVALID_PARAMS, f"domain chainId {domain_chain} is not the wallet's chain {self.chain_id}")
        signed = Account.sign_typed_data(self.selected.key, full_message=data)
        signature = "0x" + signed.signature.hex().removeprefix("0x")
        self.signed.append(("eth_signTypedData_v4", data, signature))
        return signature

    def _watch_asset(self, params: Any) -> bool:
        """EIP-747: params {type: "ERC20", options: {address, symbol, decimals[, image]}} (MetaMask
        also takes it as a one-item list); the wallet checks the fields as MetaMask does."""
        spec = params[0] if isinstance(params, list) and len(params) == 1 else params
        if not isinstance(spec, dict) or spec.get("type") != "ERC20" or not isinstance(spec.get("options"), dict):
            raise RpcError(
                INVALID_PARAMS, 'wallet_watchAsset expects {type: "ERC20", options: {address, symbol, decimals}}'
            )
        options = spec["options"]
        symbol, decimals, address = options.get("symbol"), options.get("decimals"), options.get("address")
        if not isinstance(address, str) or len(address) != 42 or not address.startswith("0x"):
            raise RpcError(INVALID_PARAMS, "options.address must be an address")
        if not isinstance(symbol, str) or not 0 < len(symbol) <= 11:
            raise RpcError(INVALID_PARAMS, "options.symbol must be 1 to 11 characters")
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 36:
            raise RpcError(INVALID_PARAMS, "options.decimals must be a number from 0 to 36")
        self.watched.append(dict(options))
        return True

    def _send_transaction(self, params: list[Any]) -> str:
        if not params or not isinstance(params[0], dict):
            raise RpcError(INVALID_PARAMS, "eth_sendTransaction expects [{from, to, value, data}]")
        request = params[0]
        sender = request.get("from", self.selected.address)
        self._check_account(sender)
        call = {key: request[key] for key in ("from", "to", "value", "data") if request.get(key) is not None}
        call["from"] = self.selected.address
        gas = int(request["gas"], 16) if request.get("gas") else None
        if gas is None:
            gas = int(self._rpc("eth_estimateGas", [call]), 16) * GAS_BUFFER_PERCENT // 100
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        priority = int(self._rpc("eth_maxPriorityFeePerGas", []), 16)
        max_fee = 2 * int(block.get("baseFeePerGas") or "0x0", 16) + priority
        transaction: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": int(self._rpc("eth_getTransactionCount", [self.selected.address, "pending"]), 16),
            "to": to_checksum_address(request["to"]) if request.get("to") else None,
            "value": int(request.get("value") or "0x0", 16),
            "data": request.get("data") or request.get("input") or "0x",
            "gas": gas,
            "maxPriorityFeePerGas": priority,
            "maxFeePerGas": max_fee,
            "type": 2,
        }
        if transaction["to"] is None:
            del transaction["to"]
        raw = self.selected.sign_transaction(transaction).raw_transaction
        tx_hash = self._rpc("eth_sendRawTransaction", ["0x" + raw.hex().removeprefix("0x")])
        self.sent.append(tx_hash)
        return str(tx_hash)

    # ------------------------------------------------------------------ the node

    def _rpc(self, method: str, params: list[Any]) -> Any:
        url = self.chains[self.chain_id].rpc_url
        if url is None:
            raise RpcError(INTERNAL_ERROR, f"No node is reachable for chain {self.chain_id} from this machine.")
        return self._rpc_at(url, method, params)

    def _rpc_at(self, url: str, method: str, params: list[Any]) -> Any:
        try:
            response = self._http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            answer = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise RpcError(INTERNAL_ERROR, f"Could not reach the node at {url}: {type(error).__name__}") from None
        if "error" in answer:
            problem = answer["error"]
            raise RpcError(
                int(problem.get("code", INTERNAL_ERROR)), str(problem.get("message", "")), problem.get("data")
            )
        return answer["result"]


def _chain_id_param(params: list[Any]) -> int:
    try:
        chain_id = params[0]["chainId"]
        if not isinstance(chain_id, str) or not chain_id.startswith("0x"):
            raise ValueError(chain_id)
        return int(chain_id, 16)
    except (IndexError, KeyError, TypeError, ValueError):
        raise RpcError(INVALID_PARAMS, "expected [{chainId: '0x...'}]") from None


def install(page: Page, wallets: Sequence[TestWallet], *, ethereum: int | None = 0) -> None:
    """Inject `wallets` into `page` before any of its scripts run, as installed extensions are:
    each announced through EIP-6963, `wallets[ethereum]` also as window.ethereum."""

    def forward(_source: Any, index: int, method: str, params: Any) -> dict[str, Any]:
        return wallets[index].handle(method, params)

    page.expose_binding(BINDING, forward)
    config = {
        "binding": BINDING,
        "emitter": EMITTER,
        "wallets": [wallet.info.to_json() for wallet in wallets],
        "ethereum": ethereum,
    }
    page.add_init_script(script=SCRIPT.read_text().replace("__CONFIG__", json.dumps(config)))
    for index, wallet in enumerate(wallets):
        wallet.attach(page, index)
