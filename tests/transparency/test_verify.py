"""`chaincrm verify ...` and `chaincrm.views.verify`: claims checked against the chain, yes or no."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse, TxReceipt

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm, chain_for
from chaincrm.contracts.deployment import deploy
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.models import DocumentKind, InteractionKind, Outcome, Purpose, Role, Stage
from chaincrm.privacy import Attachment, InteractionContent, erasure_receipt
from chaincrm.privacy.customers import CustomerData, public_key64
from chaincrm.privacy.notes import CustomerNotes, StoredContent
from chaincrm.services.anvil import free_port
from chaincrm.storage import KuboStore, content_hash, digest_to_cid
from chaincrm.views.verify import UNIXFS_CHUNK_BYTES, Verifier, document_digest
from tests.cli.conftest import DEAL_VALUE_WEI, PROFILE, Accounts, Cli, Run

pytestmark = pytest.mark.usefixtures("snapshot")

NOTE = "Called about the renewal; wants a quote by Friday."


def _log(notes: CustomerNotes, customer_id: int, accounts: Accounts, note: str = NOTE) -> StoredContent:
    content = InteractionContent(note, (Attachment("quote.pdf", b"%PDF-1.7"),))
    return notes.log_interaction(customer_id, InteractionKind.CALL, Outcome.POSITIVE, content, accounts.agent)


def _receipt_of(crm: Crm, tx_hash: str) -> TxReceipt:
    return crm.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]


def _tx(receipt: TxReceipt) -> str:
    return receipt["transactionHash"].to_0x_hex()


def _yes(run: Run, receipt: TxReceipt) -> str:
    """The yes line, checked to name the receipt's block and transaction."""
    assert run.exit_code == 0, (run.stdout, run.stderr)
    line = run.stdout.strip()
    assert line.startswith("yes: ") and "\n" not in line
    assert f"in block {receipt['blockNumber']} ({receipt['blockHash'].to_0x_hex()})" in line
    assert f"tx {_tx(receipt)}" in line
    return line


def _no(run: Run) -> str:
    """The one no line (exit 1)."""
    assert run.exit_code == 1, (run.stdout, run.stderr)
    line = run.stdout.strip()
    assert line.startswith("no: ") and "\n" not in line
    return line


# ------------------------------------------------------------------ interactions


def test_an_interaction_verifies_by_its_transaction(
    cli: Cli, crm: Crm, notes: CustomerNotes, customer_id: int, accounts: Accounts
) -> None:
    stored = _log(notes, customer_id, accounts)

    run = cli("verify", "interaction", "--tx", stored.tx_hash)

    line = _yes(run, _receipt_of(crm, stored.tx_hash))
    assert f"a call with customer {customer_id} (positive) by {accounts.agent.address}, document {stored.cid}" in line
    assert f"InteractionLogged from {crm.registry.address}" in line


def test_an_interaction_verifies_by_customer_and_the_cid_of_its_encrypted_document(
    cli: Cli, crm: Crm, notes: CustomerNotes, customer_id: int, accounts: Accounts
) -> None:
    stored = _log(notes, customer_id, accounts)

    run = cli("verify", "interaction", customer_id, "--cid", stored.cid)

    _yes(run, _receipt_of(crm, stored.tx_hash))


def test_an_interaction_verifies_by_a_copy_of_its_encrypted_document(
    cli: Cli, crm: Crm, notes: CustomerNotes, customer_id: int, accounts: Accounts, tmp_path: Path
) -> None:
    stored = _log(notes, customer_id, accounts)
    copy = tmp_path / "document.json"
    copy.write_bytes(notes.store.get(stored.cid))

    run = cli("verify", "interaction", customer_id, "--document", copy)

    _yes(run, _receipt_of(crm, stored.tx_hash))


def test_the_cid_is_recomputed_here_exactly_as_the_ipfs_service_computes_it(store: KuboStore) -> None:
    documents = [b"hello world\n", os.urandom(1000), os.urandom(UNIXFS_CHUNK_BYTES)]

    cids = [store.put(document) for document in documents]

    assert [digest_to_cid(document_digest(d) or b"") for d in documents] == cids
    assert document_digest(os.urandom(UNIXFS_CHUNK_BYTES + 1)) is None


def test_fetching_re_reads_and_re_hashes_the_stored_document(
    cli: Cli, crm: Crm, notes: CustomerNotes, customer_id: int, accounts: Accounts
) -> None:
    stored = _log(notes, customer_id, accounts)

    data = cli("verify", "interaction", customer_id, "--cid", stored.cid, "--fetch", "--json").json()

    assert data["verified"] is True and data["fields"]["cid"] == stored.cid
    assert data["fields"]["document_rehashed"] is True and data["fields"]["document_bytes"] > 0
    assert "note" not in data["fields"]


def test_a_reader_reads_the_note_back_while_verifying(
    cli: Cli, notes: CustomerNotes, customer_id: int, accounts: Accounts
) -> None:
    stored = _log(notes, customer_id, accounts)

    data = cli(
        "verify", "interaction", "--tx", stored.tx_hash, "--fetch", "--keystore", accounts.customer.address, "--json"
    ).json()

    assert (data["fields"]["note"], data["fields"]["attachments"]) == (NOTE, ["quote.pdf"])
    assert f"decrypts for {accounts.customer.address}" in data["reason"]


def test_a_document_that_does_not_open_for_the_reader_verifies_as_no(
    cli: Cli, notes: CustomerNotes, customer_id: int, accounts: Accounts
) -> None:
    stored = _log(notes, customer_id, accounts)

    run = cli("verify", "interaction", "--tx", stored.tx_hash, "--keystore", accounts.stranger.address)

    assert _no(run).startswith(f"no: the document {stored.cid} does not open as customer {customer_id}'s note:")


def test_an_interaction_whose_document_is_not_stored_verifies_as_no_when_fetched(
    cli: Cli, crm: Crm, customer_id: int, accounts: Accounts
) -> None:
    digest = content_hash(b"never stored")
    receipt = crm.registry.log_interaction(
        InteractionEntry(customer_id, InteractionKind.NOTE, Outcome.NONE, digest), accounts.agent
    )

    plain = cli("verify", "interaction", "--tx", _tx(receipt))
    fetched = cli("verify", "interaction", "--tx", _tx(receipt), "--fetch")

    _yes(plain, receipt)
    assert _no(fetched) == (
        f"no: the document {digest_to_cid(digest)} of the interaction is not stored on the IPFS service (erased?)"
    )


def test_an_interaction_in_a_batch_verifies_by_its_position(
    cli: Cli, crm: Crm, customer_id: int, accounts: Accounts
) -> None:
    receipt = crm.registry.log_interactions(
        [
            InteractionEntry(customer_id, InteractionKind.EMAIL, Outcome.NONE, content_hash(b"first")),
            InteractionEntry(customer_id, InteractionKind.MEETING, Outcome.FOLLOW_UP, content_hash(b"second")),
        ],
        accounts.agent,
    )

    data = cli(
        "verify",
        "interaction",
        "--tx",
        _tx(receipt),
        "--position",
        1,
        "--content-hash",
        "0x" + content_hash(b"second").hex(),
        "--json",
    ).json()

    assert data["verified"] is True and data["event"] == "InteractionsLogged"
    assert data["fields"]["position"] == 1 and data["fields"]["kind"] == "meeting"
    assert (data["block_number"], data["tx_hash"]) == (receipt["blockNumber"], _tx(receipt))


def test_a_wrong_cid_verifies_as_no(cli: Cli, notes: CustomerNotes, customer_id: int, accounts: Accounts) -> None:
    stored = _log(notes, customer_id, accounts)
    other = _log(notes, customer_id, accounts, "another note")

    run = cli("verify", "interaction", "--tx", stored.tx_hash, "--cid", other.cid)

    assert _no(run) == (
        f"no: the interaction in transaction {stored.tx_hash} has document {stored.cid}, not {other.cid}"
    )


def test_a_cid_nobody_logged_verifies_as_no(cli: Cli, crm: Crm, customer_id: int, accounts: Accounts) -> None:
    claimed = digest_to_cid(content_hash(b"never said"))

    run = cli("verify", "interaction", customer_id, "--cid", claimed)

    answer = (
        f"no: no interaction with customer {customer_id} has document {claimed} on the registry {crm.registry.address}"
    )
    if crm.registry.anchors(from_block=crm.deployment.block_number):  # another test anchored a batch here
        answer += " (records anchored in batches are searched only with the IPFS service: --fetch)"
    assert _no(run) == answer


def test_a_position_past_the_end_of_a_batch_verifies_as_no(
    cli: Cli, crm: Crm, customer_id: int, accounts: Accounts
) -> None:
    receipt = crm.registry.log_interactions(
        [InteractionEntry(customer_id, InteractionKind.NOTE, Outcome.NONE, content_hash(b"only"))], accounts.agent
    )

    run = cli("verify", "interaction", "--tx", _tx(receipt), "--position", 3)

    assert _no(run) == f"no: transaction {_tx(receipt)} logged 1 interaction(s): there is no position 3"


def test_an_interaction_logged_on_another_contract_address_verifies_as_no(
    cli: Cli, crm: Crm, store: KuboStore, customer_id: int, accounts: Accounts
) -> None:
    other = Crm.attach(crm.chain, deploy(crm.chain, accounts.admin, treasury=accounts.treasury.address))
    other.registry.grant_role(Role.AGENT, accounts.agent.address, accounts.admin)
    other.registry.register_encryption_key(public_key64(accounts.agent), accounts.agent)
    look_alike = CustomerData(other, store).add(PROFILE, wallet=None, purpose=Purpose.SALES, agent=accounts.agent)
    stored = _log(CustomerNotes(other, store), look_alike.customer_id, accounts)

    run = cli("verify", "interaction", "--tx", stored.tx_hash, "--cid", stored.cid)

    assert _no(run) == (
        f"no: the interaction in transaction {stored.tx_hash} was logged by {other.registry.address}, "
        f"not the deployment's registry {crm.registry.address}"
    )


def test_a_content_file_is_refused_with_what_to_give_instead(cli: Cli, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text(NOTE)

    run = cli("verify", "interaction", 1, "--content-file", note)

    assert "the chain records the CID of the encrypted document, not a hash of the note" in run.usage_error


def test_an_unknown_transaction_verifies_as_no(cli: Cli, crm: Crm) -> None:
    run = cli("verify", "interaction", "--tx", "0x" + "ab" * 32)

    assert _no(run).startswith(f"no: transaction 0x{'ab' * 32} is not on chain {crm.chain.chain_id}")


# ------------------------------------------------------------------ stage changes


def test_a_stage_change_verifies_by_deal_and_stage(cli: Cli, crm: Crm, deal_id: int, accounts: Accounts) -> None:
    receipt = crm.pipeline.move(deal_id, Stage.QUALIFIED, accounts.agent)

    run = cli("verify", "stage", "--deal", deal_id, "--to", "qualified")

    assert f"deal {deal_id} moved lead -> qualified by {accounts.agent.address}" in _yes(run, receipt)


def test_a_stage_the_deal_never_reached_verifies_as_no(cli: Cli, crm: Crm, deal_id: int) -> None:
    run = cli("verify", "stage", "--deal", deal_id, "--to", "won")

    assert _no(run) == f"no: deal {deal_id} never moved to won on the pipeline {crm.pipeline.address}"


def test_a_stage_change_claimed_for_another_deals_transaction_verifies_as_no(
    cli: Cli, crm: Crm, deal_id: int, accounts: Accounts
) -> None:
    receipt = crm.pipeline.move(deal_id, Stage.QUALIFIED, accounts.agent)

    run = cli("verify", "stage", "--tx", _tx(receipt), "--deal", deal_id, "--to", "proposal")

    assert _no(run) == (
        f"no: transaction {_tx(receipt)} moved deal {deal_id} to qualified, not deal {deal_id} to proposal"
    )


# ------------------------------------------------------------------ payments


def test_a_payment_verifies_with_its_amount(cli: Cli, crm: Crm, invoice_id: int, accounts: Accounts) -> None:
    receipt = crm.escrow.pay(invoice_id, accounts.customer)

    data = cli("verify", "payment", invoice_id, "--amount", "1.5eth", "--json").json()

    assert data["verified"] is True and data["event"] == "InvoicePaid" and data["contract"] == crm.escrow.address
    assert data["fields"]["amount_wei"] == str(DEAL_VALUE_WEI)
    assert data["fields"]["payer"] == accounts.customer.address
    assert (data["block_number"], data["block_hash"], data["tx_hash"]) == (
        receipt["blockNumber"],
        receipt["blockHash"].to_0x_hex(),
        _tx(receipt),
    )


def test_a_wrong_amount_verifies_as_no(cli: Cli, crm: Crm, invoice_id: int, accounts: Accounts) -> None:
    receipt = crm.escrow.pay(invoice_id, accounts.customer)

    run = cli("verify", "payment", invoice_id, "--amount", "2eth")

    assert _no(run) == (
        f"no: invoice {invoice_id} was paid {DEAL_VALUE_WEI} wei, not {2 * 10**18} wei "
        f"(block {receipt['blockNumber']}, tx {_tx(receipt)})"
    )


def test_an_unpaid_invoice_verifies_as_no(cli: Cli, crm: Crm, invoice_id: int) -> None:
    run = cli("verify", "payment", invoice_id)

    assert _no(run) == f"no: invoice {invoice_id} has no InvoicePaid event from the escrow {crm.escrow.address}"


def test_a_failed_payment_transaction_verifies_as_no(cli: Cli, crm: Crm, invoice_id: int, accounts: Accounts) -> None:
    underpaid = crm.escrow.contract.functions.pay(invoice_id)
    tx_hash = crm.chain.send(underpaid, accounts.customer, value=1, gas=200_000)  # no estimate: it is mined
    receipt = crm.chain.w3.eth.wait_for_transaction_receipt(tx_hash)

    run = cli("verify", "payment", invoice_id, "--tx", tx_hash.to_0x_hex())

    assert receipt["status"] == 0
    assert _no(run) == (
        f"no: transaction {tx_hash.to_0x_hex()} failed (reverted in block {receipt['blockNumber']}): "
        "it recorded nothing"
    )


class ForkedReceipts(HTTPProvider):
    """A node that answers receipts from a block the canonical chain does not hold (a reorged-out fork)."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        response = super().make_request(method, params)
        if method == "eth_getTransactionReceipt" and response.get("result"):
            response["result"]["blockHash"] = "0x" + "fe" * 32  # type: ignore[index]
        return response


def test_a_payment_outside_the_canonical_chain_verifies_as_no(
    crm: Crm, settings: Settings, invoice_id: int, accounts: Accounts
) -> None:
    receipt = crm.escrow.pay(invoice_id, accounts.customer)
    forked = Crm.attach(chain_for(Web3(ForkedReceipts(settings.rpc_url))), crm.deployment)

    verdict = Verifier(forked).payment(invoice_id)

    assert not verdict.verified and verdict.evidence is None
    assert verdict.reason.startswith(f"transaction {_tx(receipt)} is not in the canonical chain: its receipt names")
    assert receipt["blockHash"].to_0x_hex() in verdict.reason


# ------------------------------------------------------------------ erasure receipts


def test_an_erasure_receipt_file_verifies(
    cli: Cli, crm: Crm, data: CustomerData, customer_id: int, accounts: Accounts, tmp_path: Path
) -> None:
    erased = data.erase(customer_id, accounts.customer)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_bytes(data.store.get(erased.receipt_cid))

    run = cli("verify", "erasure", customer_id, "--receipt", receipt_file)

    assert run.exit_code == 0, run.stdout
    assert f"customer {customer_id} was erased by {accounts.customer.address} with this receipt" in run.stdout
    assert f"tx {erased.tx_hash}" in run.stdout


def test_an_erasure_receipt_lists_the_documents_of_every_kind_and_none_is_left_stored(
    cli: Cli, crm: Crm, notes: CustomerNotes, deal_id: int, customer_id: int, accounts: Accounts, tmp_path: Path
) -> None:
    _log(notes, customer_id, accounts)
    notes.attach_deal_document(deal_id, DocumentKind.PROPOSAL, b"%PDF-1.7 proposal", accounts.agent)
    erased = notes.customers.erase(customer_id, accounts.manager)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_bytes(notes.store.get(erased.receipt_cid))

    data = cli("verify", "erasure", customer_id, "--receipt", receipt_file, "--check-store", "--json").json()

    assert data["verified"] is True
    assert data["fields"]["documents"] == {"deal-document": 1, "interaction": 1, "profile": 2}
    assert data["reason"].endswith(
        "it lists all 4 of their documents (1 deal-document, 1 interaction, 2 profile), "
        "none of them stored on the IPFS service any more"
    )


def test_a_receipt_that_leaves_out_a_document_verifies_as_no(
    cli: Cli, crm: Crm, notes: CustomerNotes, customer_id: int, accounts: Accounts, tmp_path: Path
) -> None:
    stored = _log(notes, customer_id, accounts)
    profile = digest_to_cid(crm.registry.profile(customer_id, 1).cid_digest)
    latest = digest_to_cid(crm.registry.profile(customer_id, 2).cid_digest)
    partial = erasure_receipt(customer_id, [], [("profile", profile), ("profile", latest)], datetime.now(UTC))
    crm.registry.erase_customer(customer_id, partial.receipt_hash, accounts.manager)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_bytes(partial.receipt)

    run = cli("verify", "erasure", customer_id, "--receipt", receipt_file)

    assert _no(run) == (
        f"no: the receipt leaves out 1 document(s) the chain ties to customer {customer_id}: interaction {stored.cid}"
    )


def test_a_tampered_erasure_receipt_verifies_as_no(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts, tmp_path: Path
) -> None:
    erased = data.erase(customer_id, accounts.customer)
    tampered = data.store.get(erased.receipt_cid).replace(b'"customer_id":', b'"customer_id": ')
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_bytes(tampered)

    run = cli("verify", "erasure", customer_id, "--receipt", receipt_file)

    assert _no(run).startswith(
        f"no: the receipt's keccak256 is 0x{content_hash(tampered).hex()}, "
        f"the chain recorded 0x{erased.receipt_hash.hex()} for customer {customer_id}"
    )


def test_a_customer_who_was_never_erased_verifies_as_no(cli: Cli, crm: Crm, customer_id: int) -> None:
    run = cli("verify", "erasure", customer_id, "--receipt-hash", "0x" + "11" * 32)

    assert (
        _no(run) == f"no: customer {customer_id} has no CustomerErased event from the registry {crm.registry.address}"
    )


# ------------------------------------------------------------------ the node and the command line


def test_verify_asks_the_node_given_by_rpc_url(
    cli: Cli, crm: Crm, settings: Settings, customer_id: int, accounts: Accounts
) -> None:
    receipt = crm.registry.log_interaction(
        InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, content_hash(b"call")), accounts.agent
    )
    nowhere = f"http://127.0.0.1:{free_port()}"
    same_node = settings.rpc_url.replace("127.0.0.1", "localhost")

    run = cli("verify", "interaction", "--tx", _tx(receipt), "--rpc-url", same_node, env={"CHAINCRM_RPC_URL": nowhere})

    _yes(run, receipt)


def test_an_unreachable_node_is_an_error_not_a_no(cli: Cli) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"

    run = cli("verify", "payment", 1, "--rpc-url", nowhere)

    assert run.error == f"error: the chain at {nowhere} is not reachable (ConnectionError)"


def test_an_erasure_claim_without_a_receipt_is_a_usage_error(cli: Cli) -> None:
    run = cli("verify", "erasure", 1)

    assert run.usage_error.startswith("error: give exactly one of --receipt FILE and --receipt-hash")


def test_a_malformed_transaction_hash_is_a_usage_error(cli: Cli) -> None:
    run = cli("verify", "stage", "--tx", "0x1234")

    assert "is not a 32-byte hash" in run.usage_error
