"""Invoice payment URIs (EIP-681) and their QR codes, paid by a wallet that is not the SDK."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import zxingcpp
from PIL import Image

from chaincrm.contracts.client import Crm
from chaincrm.contracts.payments import PaymentRequest, parse_payment_uri, payment_uri, qr_png, qr_terminal
from chaincrm.errors import ConfigError
from chaincrm.models import InvoiceStatus, Purpose, Stage
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilNode
from tests.sdk.conftest import Staff

ONE_ETH = 10**18
PATH_TO_WON = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)
CAST = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "cast"
CAST_TIMEOUT_SECONDS = 60
ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
WELL_FORMED = f"ethereum:{ESCROW}@31337/pay?uint256=7&value=1500000000000000000"
QR_MIN_MODULES = 21  # a version-1 QR symbol, the smallest there is


@dataclass(frozen=True)
class WalletCall:
    """What a wallet reads from an EIP-681 URI: parsed here with urllib, not with the SDK."""

    address: str
    chain_id: int
    function: str
    typed_args: list[tuple[str, str]]
    value_wei: int

    @property
    def signature(self) -> str:
        return f"{self.function}({','.join(type_ for type_, _ in self.typed_args)})"


def _as_a_wallet_reads_it(uri: str) -> WalletCall:
    parts = urlsplit(uri)
    assert parts.scheme == "ethereum" and not parts.fragment
    target, _, function = parts.path.partition("/")
    address, _, chain_id = target.partition("@")
    parameters = parse_qsl(parts.query, strict_parsing=True)
    value = [text for key, text in parameters if key == "value"]
    return WalletCall(
        address=address,
        chain_id=int(chain_id),
        function=function,
        typed_args=[(key, text) for key, text in parameters if key != "value"],
        value_wei=int(value[0]),
    )


def _open_invoice(crm: Crm, staff: Staff, value: int = ONE_ETH) -> int:
    """An open invoice to the customer's wallet, proposed by the agent and accepted by the wallet."""
    registry = crm.registry
    readers = {staff.agent.address, *(m for m in registry.managers() if registry.encryption_key_of(m))}
    customer_id = registry.register_customer(
        os.urandom(32), os.urandom(32), readers_hash(readers), staff.customer.address, Purpose.BILLING, staff.agent
    )
    registry.approve_wallet(customer_id, staff.customer.address, staff.manager)
    registry.accept_wallet(customer_id, public_key64(staff.customer), staff.customer)
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, value, staff.agent)
    for stage in PATH_TO_WON:
        crm.pipeline.move(deal_id, stage, staff.agent)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    return invoice_id


@pytest.fixture
def invoice_id(crm: Crm, staff: Staff, snapshot: None) -> int:
    return _open_invoice(crm, staff, 3 * ONE_ETH + 1)  # + 1 wei: an amount no float carries exactly


def _uri(crm: Crm, invoice_id: int) -> str:
    return payment_uri(crm.chain.chain_id, crm.escrow.address, crm.escrow.invoice(invoice_id))


def test_the_uri_is_an_eip681_call_of_pay_with_the_exact_amount(crm: Crm, invoice_id: int) -> None:
    uri = _uri(crm, invoice_id)

    assert uri == f"ethereum:{crm.escrow.address}@{crm.chain.chain_id}/pay?uint256={invoice_id}&value={3 * ONE_ETH + 1}"


def test_the_uri_round_trips_through_the_parser(crm: Crm, invoice_id: int) -> None:
    invoice = crm.escrow.invoice(invoice_id)

    request = parse_payment_uri(payment_uri(crm.chain.chain_id, crm.escrow.address, invoice))

    assert request == PaymentRequest(
        address=crm.escrow.address,
        chain_id=crm.chain.chain_id,
        function="pay",
        args=(("uint256", invoice_id),),
        value_wei=invoice.amount_wei,
    )
    assert request.invoice_id == invoice_id


def test_a_paid_invoice_gets_no_payment_uri(crm: Crm, staff: Staff, invoice_id: int) -> None:
    crm.escrow.pay(invoice_id, staff.customer)
    paid = crm.escrow.invoice(invoice_id)

    with pytest.raises(ConfigError, match=rf"invoice {invoice_id} is paid, not open"):
        payment_uri(crm.chain.chain_id, crm.escrow.address, paid)


def test_a_cancelled_invoice_gets_no_payment_uri(crm: Crm, staff: Staff, invoice_id: int) -> None:
    crm.escrow.cancel(invoice_id, staff.manager)
    cancelled = crm.escrow.invoice(invoice_id)

    with pytest.raises(ConfigError, match=rf"invoice {invoice_id} is cancelled, not open"):
        payment_uri(crm.chain.chain_id, crm.escrow.address, cancelled)


MALFORMED = {
    "other scheme": WELL_FORMED.replace("ethereum:", "bitcoin:"),
    "scheme in capitals": WELL_FORMED.replace("ethereum:", "ETHEREUM:"),
    "no chain id": WELL_FORMED.replace("@31337", ""),
    "chain id zero": WELL_FORMED.replace("@31337", "@0"),
    "chain id not a number": WELL_FORMED.replace("@31337", "@anvil"),
    "ENS name": WELL_FORMED.replace(ESCROW, "escrow.eth"),
    "short address": WELL_FORMED.replace(ESCROW, ESCROW[:-1]),
    "bad checksum": WELL_FORMED.replace(ESCROW, ESCROW[:3] + ESCROW[3].swapcase() + ESCROW[4:]),
    "other function": WELL_FORMED.replace("/pay?", "/transfer?"),
    "no function": WELL_FORMED.replace("/pay?", "?"),
    "no parameters": WELL_FORMED.split("?")[0],
    "empty query": WELL_FORMED.split("?")[0] + "?",
    "no value": WELL_FORMED.replace("&value=1500000000000000000", ""),
    "no invoice id": WELL_FORMED.replace("uint256=7&", ""),
    "two invoice ids": WELL_FORMED + "&uint256=8",
    "extra parameter": WELL_FORMED + "&gas=100000",
    "other argument type": WELL_FORMED.replace("uint256=7", "address=7"),
    "parameter without =": WELL_FORMED + "&value",
    "empty value": WELL_FORMED.replace("value=1500000000000000000", "value="),
    "negative value": WELL_FORMED.replace("value=", "value=-"),
    "zero value": WELL_FORMED.replace("value=1500000000000000000", "value=0"),
    "zero invoice id": WELL_FORMED.replace("uint256=7", "uint256=0"),
    "fractional wei": WELL_FORMED.replace("value=1500000000000000000", "value=1.5"),
    "exponent without digits": WELL_FORMED.replace("value=1500000000000000000", "value=15e"),
    "hex value": WELL_FORMED.replace("value=1500000000000000000", "value=0x14d1120d7b160000"),
    "value beyond uint256": WELL_FORMED.replace("value=1500000000000000000", "value=1e78"),
    "huge exponent": WELL_FORMED.replace("value=1500000000000000000", "value=1e999999999"),
    "percent-encoded": WELL_FORMED.replace("value=1", "value=%31"),
    "fragment": WELL_FORMED + "#memo",
    "trailing newline": WELL_FORMED + "\n",
    "leading space": " " + WELL_FORMED,
    "not a URI at all": "pay me 1.5 ETH",
}


@pytest.mark.parametrize("uri", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_uri_is_refused_in_one_line(uri: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_payment_uri(uri)

    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("value", "wei"),
    [("1.5e18", 1_500_000_000_000_000_000), ("15E17", 1_500_000_000_000_000_000), ("+2e0", 2), ("0.25e2", 25)],
)
def test_scientific_notation_values_are_read_as_exact_integers(value: str, wei: int) -> None:
    uri = WELL_FORMED.replace("value=1500000000000000000", f"value={value}")

    assert parse_payment_uri(uri).value_wei == wei


def test_parameters_are_read_in_either_order_and_with_the_pay_prefix() -> None:
    reordered = f"ethereum:pay-{ESCROW.lower()}@31337/pay?value=1500000000000000000&uint256=7"

    assert parse_payment_uri(reordered) == parse_payment_uri(WELL_FORMED)


def test_a_wallet_that_reads_only_the_uri_pays_the_invoice(
    crm: Crm, staff: Staff, anvil_node: AnvilNode, invoice_id: int, tmp_path: Path
) -> None:
    uri = _uri(crm, invoice_id)
    call = _as_a_wallet_reads_it(uri)
    escrow_before = crm.escrow.escrowed_wei()
    # The key on argv is acceptable only here: it is one of Anvil's public, well-known dev keys.
    customer_key = "0x" + bytes(staff.customer.key).hex()

    sent = subprocess.run(
        [str(CAST), "send", call.address, call.signature, *(text for _, text in call.typed_args),
         "--value", str(call.value_wei), "--chain", str(call.chain_id),
         "--rpc-url", anvil_node.url, "--private-key", customer_key, "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=CAST_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip

    # The npm wrapper in node_modules/.bin exits 0 even when cast fails (foundry-rs/foundry#14781),
    # so success is read from the receipt cast prints, not from the exit code alone.
    assert sent.returncode == 0 and sent.stdout.strip(), f"cast send failed: {sent.stderr.strip()}"
    assert json.loads(sent.stdout)["status"] == "0x1"
    paid = crm.escrow.invoice(invoice_id)
    assert paid.status is InvoiceStatus.PAID
    assert paid.paid_at is not None
    assert crm.escrow.escrowed_wei() - escrow_before == paid.amount_wei == 3 * ONE_ETH + 1


def test_the_png_is_a_square_black_and_white_image_with_a_light_quiet_zone(tmp_path: Path) -> None:
    path = qr_png(WELL_FORMED, tmp_path / "invoice.png")

    with Image.open(path) as image:
        image.load()
    assert image.format == "PNG"
    assert image.width == image.height
    assert 200 <= image.width <= 2000
    grey = image.convert("L")
    assert [level for level, count in enumerate(grey.histogram()) if count] == [0, 255]
    assert {grey.getpixel((x, y)) for x in (0, image.width - 1) for y in (0, image.height - 1)} == {255}


def test_the_terminal_qr_is_a_block_of_equal_lines() -> None:
    drawing = qr_terminal(WELL_FORMED)

    lines = drawing.splitlines()
    assert len(lines) >= QR_MIN_MODULES // 2
    assert {len(line) for line in lines} == {len(lines[0])}
    assert len(lines[0]) >= QR_MIN_MODULES
    assert set(drawing) <= {"█", "▀", "▄", "\xa0", " ", "\n"}
    assert "▀" in drawing and "▄" in drawing


def test_no_qr_is_drawn_for_a_malformed_uri(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"

    with pytest.raises(ConfigError):
        qr_png(MALFORMED["other function"], path)
    with pytest.raises(ConfigError):
        qr_terminal(MALFORMED["other function"])

    assert not path.exists()


def _terminal_to_image(drawing: str) -> Image.Image:
    """Turn the half-block drawing back into pixels: each cell is two modules, top and bottom."""
    # Inverted for dark terminals: a drawn half is a light module, a blank half a dark one.
    halves = {"█": (255, 255), "▀": (255, 0), "▄": (0, 255), "\xa0": (0, 0), " ": (0, 0)}
    lines = drawing.splitlines()
    image = Image.new("L", (len(lines[0]), 2 * len(lines)), 255)
    for row, line in enumerate(lines):
        for column, char in enumerate(line):
            top, bottom = halves[char]
            image.putpixel((column, 2 * row), top)
            image.putpixel((column, 2 * row + 1), bottom)
    return image.resize((image.width * 8, image.height * 8), Image.Resampling.NEAREST)


def test_both_qr_codes_decode_back_to_the_uri(tmp_path: Path) -> None:
    path = qr_png(WELL_FORMED, tmp_path / "invoice.png")

    with Image.open(path) as png:
        from_png = zxingcpp.read_barcodes(png.convert("L"))
    from_terminal = zxingcpp.read_barcodes(_terminal_to_image(qr_terminal(WELL_FORMED)))

    assert [code.text for code in from_png] == [WELL_FORMED]
    assert [code.text for code in from_terminal] == [WELL_FORMED]
    assert from_png[0].ec_level == "M"
