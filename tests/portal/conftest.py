"""Fixtures for the portal's HTTP tests (and the browser tests, which may import them).

One real stack per session (Anvil + the embedded IPFS node, the CRM deployed, keystores for the
named accounts: ``tests.cli.conftest``), seeded with what a customer's portal shows, and the real
app served by uvicorn in a thread on a free port, following the chain into its own index:

- ``portal_server`` (session): a :class:`PortalServer` with ``url`` (= the public URL, the SIWE
  domain's origin), ``app_config`` (the PortalConfig), ``portal`` (the app's state: its
  ``unexpected_errors`` count stays 0), ``settings``, ``crm``, the accounts (``customer``, ``agent``,
  ``manager``, ``relayer``, ``stranger``), ``customer_id`` (its wallet accepted, the agent holding a
  sales grant), ``other_customer_id`` (bound to ``stranger``), ``invoice_id`` (open, payable by
  ``customer``), ``customer_keystore`` and ``password``. Rate limits are generous here; tests of
  the limits serve their own app (:func:`serve`).
- ``client``: an httpx client on it with a fresh cookie jar.
- helpers: :func:`siwe_message`, :func:`sign_in`, :func:`new_invoice`, :func:`new_customer`,
  :func:`wait_for`.

Tests change the chain only forwards (no evm_revert: the index follows the chain, and a revert
deeper than its confirmations is not a reorg it can undo); each test that spends state makes its
own customer or invoice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from chaincrm.chain.keystores import keystore_path
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.models import Purpose, Stage
from chaincrm.portal import PortalConfig, RateLimits, create_app
from chaincrm.portal.state import Portal
from chaincrm.privacy.customers import CustomerData
from chaincrm.services.anvil import dev_private_keys, free_port
from chaincrm.storage import KuboStore
from tests.cli.conftest import (  # noqa: F401 - fixtures and the warning filter
    PASSWORD,
    PROFILE,
    Accounts,
    accounts,
    crm,
    pytest_configure,
    settings,
    store,
)
from tests.support import no_unexpected_errors, wait_for

T = TypeVar("T")

STATEMENT = "Sign in to your chaincrm records."
GENEROUS = RateLimits(sign_in="10000/minute", nonce="10000/minute", relay="10000/minute")
INVOICE_VALUE_WEI = 175 * 10**16  # 1.75 ETH: below the approval threshold, so the agent closes it as won
PATH_TO_WON = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)
POLL_SECONDS = 0.2
WAIT_SECONDS = 15.0
RELAYER_KEY_INDEX = 7  # Anvil's dev accounts 0-6 are the named accounts of tests.cli.conftest


@dataclass(frozen=True)
class PortalServer:
    url: str
    app_config: PortalConfig
    portal: Portal
    settings: Settings
    crm: Crm
    customer: LocalAccount
    agent: LocalAccount
    manager: LocalAccount
    relayer: LocalAccount
    stranger: LocalAccount
    customer_id: int
    other_customer_id: int
    invoice_id: int
    customer_keystore: Path
    password: str


# ------------------------------------------------------------------ serving


@contextmanager
def serve(config: PortalConfig) -> Iterator[Portal]:
    """The real app on uvicorn in a thread at the port of `config.public_url`, until the block ends."""
    port = int(config.public_url.rsplit(":", 1)[1])
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, proxy_headers=False)
    )
    thread = threading.Thread(target=server.run, name="portal-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the portal did not start"
        time.sleep(0.02)
    try:
        yield app.state.portal
    finally:
        server.should_exit = True
        thread.join(WAIT_SECONDS)


def local_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def local_config(settings: Settings, database: Path, **options: Any) -> PortalConfig:  # noqa: F811
    """A portal on a free local port, polling the chain fast, with rate limits no test reaches."""
    return PortalConfig(
        settings=settings,
        database=database,
        public_url=local_url(),
        poll_seconds=POLL_SECONDS,
        rate_limits=GENEROUS,
        **options,
    )


def indexed_up_to(server_url: str, block: int) -> None:
    def caught_up() -> bool:
        as_of = httpx.get(f"{server_url}/api/config").json()["as_of_block"]
        return as_of is not None and as_of >= block

    wait_for(caught_up, f"the index to reach block {block}")


# ------------------------------------------------------------------ records


def new_customer(crm: Crm, store: KuboStore, accounts: Accounts, wallet: LocalAccount) -> int:  # noqa: F811
    """A customer registered by the agent (a sales grant), `wallet` proposed, approved, accepted,
    and the profile re-sealed for it."""
    data = CustomerData(crm, store)
    ref = data.add(PROFILE, wallet=wallet.address, purpose=Purpose.SALES, agent=accounts.agent)
    data.approve_wallet(ref.customer_id, wallet.address, accounts.manager)
    data.accept_wallet(ref.customer_id, wallet)
    assert data.reseal(ref.customer_id, accounts.agent) is not None
    return ref.customer_id


def new_invoice(crm: Crm, customer_id: int, agent: LocalAccount, value_wei: int = INVOICE_VALUE_WEI) -> int:  # noqa: F811
    """An open invoice: a deal of the agent's with the customer, moved to won."""
    deal_id = crm.pipeline.open_deal(customer_id, agent.address, value_wei, agent)
    for stage in PATH_TO_WON:
        crm.pipeline.move(deal_id, stage, agent)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    return invoice_id


# ------------------------------------------------------------------ tokens, loyalty points, off-chain payments
#
# Raw contract calls (the SDK's wrappers for issue 11 may be named otherwise): what an admin, a
# manager or a customer does on chain, so that the portal has something to show.

TOKEN_NAME, TOKEN_SYMBOL, TOKEN_DECIMALS = "Test Dollar", "TUSD", 6
ETH_EARN_WAD = 100 * 10**18  # 100 points (18 decimals) per ETH released
ETH_REDEEM_WAD = 10**16  # a point takes 0.01 ETH off
TOKEN_EARN_WAD = 10**30  # 1 point per TUSD released
TOKEN_REDEEM_WAD = 10**5  # a point takes 0.10 TUSD off
OFF_CHAIN_METHODS = {"bank_transfer": 1, "card": 2, "other": 3}
LOYAL_POINTS = 175 * 10**18  # what the loyal customer earns on its first invoice (1.75 ETH released)


def deploy_stablecoin(crm: Crm, admin: LocalAccount) -> str:  # noqa: F811
    """A TestStablecoin (6 decimals, EIP-2612 permits, public mint), allow-listed by the escrow."""
    from chaincrm.chain.artifacts import load_artifact

    artifact = load_artifact("TestStablecoin")
    factory = crm.chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = crm.chain.transact(factory.constructor(TOKEN_NAME, TOKEN_SYMBOL), admin)
    token = str(receipt["contractAddress"])
    crm.chain.transact(crm.escrow.contract.functions.allowToken(token, True), admin)
    return token


def token_contract(crm: Crm, token: str) -> Any:  # noqa: F811
    from chaincrm.chain.artifacts import load_artifact

    return crm.chain.w3.eth.contract(address=token, abi=load_artifact("TestStablecoin").abi)  # type: ignore[call-overload]


def mint(crm: Crm, token: str, to: str, amount: int, sender: LocalAccount) -> None:  # noqa: F811
    crm.chain.transact(token_contract(crm, token).functions.mint(to, amount), sender)


def token_balance(crm: Crm, token: str, account: str) -> int:  # noqa: F811
    return int(token_contract(crm, token).functions.balanceOf(account).call())


def set_loyalty_rates(crm: Crm, admin: LocalAccount, currency: str | None, earn_wad: int, redeem_wad: int) -> None:  # noqa: F811
    zero = "0x0000000000000000000000000000000000000000"
    crm.chain.transact(crm.escrow.contract.functions.setLoyaltyRates(currency or zero, earn_wad, redeem_wad), admin)


def points_of(crm: Crm, account: str) -> int:  # noqa: F811
    from chaincrm.chain.artifacts import load_artifact

    points = crm.escrow.contract.functions.loyaltyProgram().call()
    return int(
        crm.chain.w3.eth.contract(address=points, abi=load_artifact("LoyaltyPoints").abi)
        .functions.balanceOf(account)
        .call()
    )  # type: ignore[call-overload]


def new_token_invoice(
    crm: Crm,  # noqa: F811
    customer_id: int,
    agent: LocalAccount,
    manager: LocalAccount,
    token: str,
    value: int,
) -> int:
    """An open invoice in `token`: a deal the agent opens in it and moves on, which a manager wins
    (a deal in an ERC-20 reaches Won only by a manager)."""
    deal_id = crm.pipeline.open_deal_in(customer_id, agent.address, value, token, agent)
    for stage in PATH_TO_WON[:-1]:
        crm.pipeline.move(deal_id, stage, agent)
    crm.pipeline.move(deal_id, Stage.WON, manager)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    return invoice_id


def record_off_chain_payment(crm: Crm, invoice_id: int, method: str, manager: LocalAccount) -> None:  # noqa: F811
    """A manager records that the invoice was paid by bank transfer or card (hashes of a receipt)."""
    receipt_hash, cid_digest = bytes(range(1, 33)), bytes(range(2, 34))
    fn = crm.escrow.contract.functions.recordOffChainPayment(
        invoice_id, OFF_CHAIN_METHODS[method], receipt_hash, cid_digest
    )
    crm.chain.transact(fn, manager)


@dataclass(frozen=True)
class Commerce:
    """Issue 11 on the portal's chain: a stablecoin allow-listed, loyalty rates for ETH and it, and
    a customer of its own (`loyal`, funded, holding stablecoins and points), so that the points
    and token tests change no other test's customer."""

    token: str
    loyal: LocalAccount
    loyal_id: int
    admin: LocalAccount


@pytest.fixture(scope="session")
def commerce(portal_server: PortalServer, store: KuboStore, accounts: Accounts) -> Commerce:  # noqa: F811
    chain_crm = portal_server.crm
    token = deploy_stablecoin(chain_crm, accounts.admin)
    set_loyalty_rates(chain_crm, accounts.admin, None, ETH_EARN_WAD, ETH_REDEEM_WAD)
    set_loyalty_rates(chain_crm, accounts.admin, token, TOKEN_EARN_WAD, TOKEN_REDEEM_WAD)
    loyal = Account.create()
    chain_crm.chain.w3.provider.make_request("anvil_setBalance", [loyal.address, hex(100 * 10**18)])  # type: ignore[arg-type]
    loyal_id = new_customer(chain_crm, store, accounts, loyal)
    mint(chain_crm, token, loyal.address, 1_000 * 10**TOKEN_DECIMALS, accounts.admin)
    invoice_id = new_invoice(chain_crm, loyal_id, accounts.agent)  # 1.75 ETH paid and released: 175 points
    chain_crm.escrow.pay(invoice_id, loyal)
    chain_crm.escrow.confirm_delivery(invoice_id, loyal)
    assert points_of(chain_crm, loyal.address) == LOYAL_POINTS
    indexed_up_to(portal_server.url, chain_crm.chain.block_number())
    return Commerce(token=token, loyal=loyal, loyal_id=loyal_id, admin=accounts.admin)


# ------------------------------------------------------------------ sign-in


def iso(moment: datetime) -> str:
    """As JavaScript's Date.toISOString() writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def siwe_message(
    *,
    domain: str,
    address: str,
    chain_id: int,
    nonce: str,
    uri: str | None = None,
    issued_at: datetime | None = None,
    expires_in: timedelta = timedelta(minutes=10),
) -> str:
    """The EIP-4361 text the page builds."""
    issued = issued_at or datetime.now(tz=UTC)
    return (
        f"{domain} wants you to sign in with your Ethereum account:\n{address}\n\n{STATEMENT}\n\n"
        f"URI: {uri or 'http://' + domain}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\n"
        f"Issued At: {iso(issued)}\nExpiration Time: {iso(issued + expires_in)}"
    )


def personal_sign(account: LocalAccount, message: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


def sign_in(client: httpx.Client, account: LocalAccount, chain_id: int, **overrides: Any) -> httpx.Response:
    """GET a nonce, sign the message as the page does (personal_sign), POST it."""
    nonce = client.get("/api/siwe/nonce").json()["nonce"]
    fields: dict[str, Any] = {
        "domain": str(client.base_url.netloc.decode()),
        "address": account.address,
        "chain_id": chain_id,
        "nonce": nonce,
    }
    fields.update(overrides)
    message = siwe_message(**fields)
    return client.post("/api/siwe/verify", json={"message": message, "signature": personal_sign(account, message)})


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def relayer(crm: Crm) -> LocalAccount:  # noqa: F811 - the imported fixture
    return Account.from_key(dev_private_keys(RELAYER_KEY_INDEX + 1)[RELAYER_KEY_INDEX])


@pytest.fixture(scope="session")
def portal_server(
    settings: Settings,  # noqa: F811
    crm: Crm,  # noqa: F811
    store: KuboStore,  # noqa: F811
    accounts: Accounts,  # noqa: F811
    relayer: LocalAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PortalServer]:
    customer_id = new_customer(crm, store, accounts, accounts.customer)
    other_customer_id = new_customer(crm, store, accounts, accounts.stranger)
    invoice_id = new_invoice(crm, customer_id, accounts.agent)
    config = local_config(settings, tmp_path_factory.mktemp("portal") / "index.sqlite", relayer=relayer)
    with serve(config) as portal:
        indexed_up_to(config.public_url, crm.chain.block_number())
        yield PortalServer(
            url=config.public_url,
            app_config=config,
            portal=portal,
            settings=settings,
            crm=crm,
            customer=accounts.customer,
            agent=accounts.agent,
            manager=accounts.manager,
            relayer=relayer,
            stranger=accounts.stranger,
            customer_id=customer_id,
            other_customer_id=other_customer_id,
            invoice_id=invoice_id,
            customer_keystore=keystore_path(accounts.customer.address, settings.keystore_dir),
            password=PASSWORD,
        )


@pytest.fixture
def client(portal_server: PortalServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal_server.url, timeout=30) as http:
        yield http


@pytest.fixture
def signed_in(portal_server: PortalServer, client: httpx.Client) -> httpx.Client:
    """`client` signed in as the customer's wallet."""
    answer = sign_in(client, portal_server.customer, portal_server.crm.chain.chain_id)
    assert answer.status_code == 200, answer.text
    return client


_no_unexpected_errors = no_unexpected_errors("portal_server")


def other_server_config(server: PortalServer, **changes: Any) -> PortalConfig:
    """Another app over the same index (read-only: it does not follow)."""
    return replace(server.app_config, **{"public_url": local_url(), "follow": False, **changes})
