"""Invoice payment requests: an EIP-681 URI that a customer's wallet opens, and its QR code.

A customer pays an invoice by calling ``InvoiceEscrow.pay(invoiceId)`` from the invoice's payer
wallet with exactly the invoice's amount in wei. :func:`payment_uri` writes that call as an
EIP-681 transaction request::

    ethereum:<escrow>@<chain id>/pay?uint256=<invoice id>&value=<amount in wei>

The grammar is EIP-681's (``request = "ethereum:" ["pay-"] target_address ["@" chain_id]
["/" function_name] ["?" parameters]``): the target is the escrow contract, ``function_name``
the method to call, each ABI argument a ``TYPE=value`` parameter in the function's order, and
``value`` the ether sent with the call in wei. The choices made within that grammar:

- The chain id is always written. EIP-681 makes it optional (a wallet then uses whatever network
  it is on), but an invoice belongs to one deployment on one chain.
- The escrow address is a hexadecimal EIP-55 checksummed address, never an ENS name, so a wallet
  can catch a mistyped address and nothing has to be resolved.
- Numbers are plain decimal integers. EIP-681 encourages scientific notation (``1.5e18``), which
  :func:`parse_payment_uri` accepts, but a plain integer is exact in every parser, including the
  ones that go through floating point.
- No ``pay-`` prefix: it is optional and means the same; the parser accepts it.
- No ``gas``/``gasLimit``/``gasPrice``: the wallet estimates gas and prices it for its chain.

Wallet support is narrower than the standard. MetaMask mobile (its deep-link handler, built on
``eth-url-parser``) runs only ``transfer`` and ``approve`` as contract calls; for any other
function name, ``pay`` included, it opens a plain ether send of ``value`` to the target address
and drops the function and its arguments. InvoiceEscrow has no ``receive`` or ``fallback``
function, so that send reverts (the wallet reports it at gas estimation) and no money is lost,
but MetaMask mobile cannot pay an invoice from this URI. Wallets that implement EIP-681 contract
calls, and command-line clients such as Foundry's ``cast send``, can. Everything in the URI is a
suggestion the wallet lets the user edit; the contract refuses an edited amount
(``InvoiceAmountMismatch``) and any sender but the payer (``InvoicePayerMismatch``).

:func:`qr_png` and :func:`qr_terminal` draw the URI as a QR code with error-correction level M
(about 15% of the symbol recoverable) and a four-module quiet zone: level M is what payment QR
codes (such as the European EPC credit-transfer code) use, and it keeps a URI of about 100
characters at version 6 or 7 (41 or 45 modules a side), which a phone camera reads from a screen
or from paper, where levels Q and H would need a larger, denser symbol for the same text.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import qrcode
import qrcode.constants
from eth_typing import ChecksumAddress
from qrcode.image.pil import PilImage

from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.errors import ConfigError
from chaincrm.models import Invoice, InvoiceStatus

PAY_FUNCTION = "pay"
INVOICE_ID_TYPE = "uint256"
VALUE_KEY = "value"
UINT256_MAX = 2**256 - 1
EXPECTED_SHAPE = "ethereum:<escrow>@<chain id>/pay?uint256=<invoice id>&value=<wei>"

QR_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
QR_QUIET_ZONE_MODULES = 4  # the minimum quiet zone ISO/IEC 18004 asks for around a QR symbol
QR_PNG_PIXELS_PER_MODULE = 10
URI_SHOWN_IN_ERRORS_CHARS = 120

_REQUEST = re.compile(
    r"ethereum:(?:pay-)?"
    r"(?P<address>0x[0-9a-fA-F]{40})"
    r"@(?P<chain_id>[0-9]{1,78})"  # 78 digits hold any uint256
    r"/(?P<function>[A-Za-z_][A-Za-z0-9_]*)"
    r"\?(?P<query>[^#]*)"
)
# EIP-681's `number`: [ "-" / "+" ] *DIGIT [ "." 1*DIGIT ] [ ( "e" / "E" ) [ 1*DIGIT ] ], with
# the sign limited to "+" (nothing here is negative) and the exponent's digits required.
_NUMBER = re.compile(r"\+?(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]+))?(?:[eE](?P<exponent>[0-9]+))?")
_NUMBER_MAX_DIGITS = 100  # mantissa and exponent lengths beyond which no uint256 fits (or it is absurd)


@dataclass(frozen=True)
class PaymentRequest:
    """A parsed invoice payment URI: which contract to call, on which chain, with what.

    ``args`` holds the call's ABI arguments in order as ``(type, value)`` pairs; for an invoice
    payment that is ``(("uint256", invoice_id),)``.
    """

    address: ChecksumAddress
    chain_id: int
    function: str
    args: tuple[tuple[str, int], ...]
    value_wei: int

    @property
    def invoice_id(self) -> int:
        return self.args[0][1]


def payment_uri(chain_id: int, escrow_address: str, invoice: Invoice) -> str:
    """The EIP-681 URI that asks the payer's wallet to pay `invoice` into the escrow.

    Only an open invoice can be paid, so any other is refused with :class:`ConfigError`, as are
    a chain id below 1 and an escrow address that is not a 20-byte hexadecimal address.
    """
    if invoice.status is not InvoiceStatus.OPEN:
        raise ConfigError(f"invoice {invoice.id} is {invoice.status.name.lower()}, not open: there is nothing to pay")
    if invoice.currency is not None:
        raise ConfigError(
            f"invoice {invoice.id} is in a token: a wallet cannot pay it from a URI alone (approve, then pay: "
            "see `approve_uri`)"
        )
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or not 1 <= chain_id <= UINT256_MAX:
        raise ConfigError(f"chain id must be a positive integer, got {chain_id!r}")
    if not 1 <= invoice.id <= UINT256_MAX or not 1 <= invoice.amount_wei <= UINT256_MAX:
        raise ConfigError(f"invoice {invoice.id} asks for {invoice.amount_wei} wei: not a payable invoice")
    escrow = _checksummed(escrow_address)
    if escrow is None:
        raise ConfigError(f"escrow address must be 0x and 40 hex digits with a valid checksum, got {escrow_address!r}")
    target = f"ethereum:{escrow}@{chain_id}/{PAY_FUNCTION}"
    return f"{target}?{INVOICE_ID_TYPE}={invoice.id}&{VALUE_KEY}={invoice.amount_wei}"


def approve_uri(chain_id: int, escrow_address: str, invoice: Invoice) -> str:
    """For an invoice in an ERC-20, the first of its two steps as an EIP-681 URI: the payer's wallet
    approves the escrow for the invoice's amount::

        ethereum:<token>@<chain id>/approve?address=<escrow>&uint256=<amount in base units>

    A wallet cannot pay a token invoice from one URI: the escrow pulls the tokens in `payToken`,
    which is the second step (or one `payTokenWithPermit` with a signed permit, on the payment page).
    ``approve`` is one of the two contract calls every EIP-681 wallet runs (MetaMask mobile too).
    """
    if invoice.currency is None:
        raise ConfigError(f"invoice {invoice.id} is in ETH: its payment URI is `payment_uri`")
    if invoice.status is not InvoiceStatus.OPEN:
        raise ConfigError(f"invoice {invoice.id} is {invoice.status.name.lower()}, not open: there is nothing to pay")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or not 1 <= chain_id <= UINT256_MAX:
        raise ConfigError(f"chain id must be a positive integer, got {chain_id!r}")
    escrow = _checksummed(escrow_address)
    token = _checksummed(invoice.currency)
    if escrow is None or token is None:
        raise ConfigError("the escrow and token addresses must be 0x and 40 hex digits with a valid checksum")
    return f"ethereum:{token}@{chain_id}/approve?address={escrow}&uint256={invoice.amount_wei}"


def page_link(public_url: str, invoice_id: int) -> str:
    """The portal's payment page for an invoice, ``<public_url>/pay/<id>``: what a payer opens in a
    browser whose wallet cannot pay from the EIP-681 URI (see the module docstring).

    `public_url` is ``http(s)://host[:port]`` with no path, query or fragment (``chaincrm serve
    --public-url``); anything else is a :class:`ConfigError`.
    """
    parts = urlsplit(public_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"the public URL {public_url!r} must be http(s)://HOST[:PORT] with no path")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"the public URL {public_url!r} must not carry a query, fragment or user")
    if isinstance(invoice_id, bool) or not 1 <= invoice_id <= UINT256_MAX:
        raise ConfigError(f"not an invoice id: {invoice_id!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}/pay/{invoice_id}"


def page_qr_png(url: str, path: Path | str) -> Path:
    """Write a page link (:func:`page_link`) as a PNG QR code, drawn as :func:`qr_png` draws a URI."""
    return _save_png(_code(url), path)


def page_qr_terminal(url: str) -> str:
    """A page link as a terminal QR code, drawn as :func:`qr_terminal` draws a URI."""
    return _drawn(_code(url))


def _code(text: str) -> qrcode.QRCode[PilImage]:
    code: qrcode.QRCode[PilImage] = qrcode.QRCode(
        error_correction=QR_ERROR_CORRECTION,
        box_size=QR_PNG_PIXELS_PER_MODULE,
        border=QR_QUIET_ZONE_MODULES,
    )
    code.add_data(text)
    code.make(fit=True)
    return code


def _save_png(code: qrcode.QRCode[PilImage], path: Path | str) -> Path:
    image = code.make_image(image_factory=PilImage)
    target = Path(path)
    try:
        image.save(target, kind="PNG")
    except OSError as exc:
        raise ConfigError(f"cannot write the QR code to {target}: {exc.strerror or exc}") from exc
    return target


def _drawn(code: qrcode.QRCode[PilImage]) -> str:
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def parse_payment_uri(uri: str) -> PaymentRequest:
    """Read an invoice payment URI back, refusing anything but the shape :func:`payment_uri` writes.

    Accepted: the ``ethereum:`` scheme in lower case, an optional ``pay-`` prefix, a hexadecimal
    address (all lower case, all upper case, or with a valid EIP-55 checksum), a chain id, the
    function ``pay``, and exactly the two parameters ``uint256`` (the invoice id, at least 1) and
    ``value`` (wei, at least 1) in either order, each once, as EIP-681 numbers that are exact
    non-negative integers (``1500000000000000000``, ``1.5e18``). Everything else raises
    :class:`ConfigError` with a one-line reason: other functions or parameters, ENS names, a
    missing chain id, percent-encoding, a fragment, surrounding whitespace.
    """
    if not isinstance(uri, str):
        raise ConfigError(f"a payment URI is a string, got {type(uri).__name__}")
    match = _REQUEST.fullmatch(uri)
    if match is None:
        raise _malformed(uri, f"expected {EXPECTED_SHAPE}")
    address = _checksummed(match["address"])
    if address is None:
        raise _malformed(uri, "the address's EIP-55 checksum is wrong")
    chain_id = int(match["chain_id"])
    if not 1 <= chain_id <= UINT256_MAX:
        raise _malformed(uri, "the chain id must be a positive integer")
    if match["function"] != PAY_FUNCTION:
        raise _malformed(uri, f"the function must be {PAY_FUNCTION!r}, got {match['function']!r}")

    parameters: dict[str, str] = {}
    for parameter in match["query"].split("&"):
        key, equals, text = parameter.partition("=")
        if not equals or "=" in text:
            raise _malformed(uri, f"parameter {parameter!r} is not key=value")
        if key not in (INVOICE_ID_TYPE, VALUE_KEY):
            raise _malformed(uri, f"unexpected parameter {key!r}: only {INVOICE_ID_TYPE} and {VALUE_KEY}")
        if key in parameters:
            raise _malformed(uri, f"parameter {key!r} appears twice")
        parameters[key] = text
    missing = [key for key in (INVOICE_ID_TYPE, VALUE_KEY) if key not in parameters]
    if missing:
        raise _malformed(uri, f"missing parameter {missing[0]!r}")

    invoice_id = _positive_integer(uri, INVOICE_ID_TYPE, parameters[INVOICE_ID_TYPE])
    value_wei = _positive_integer(uri, VALUE_KEY, parameters[VALUE_KEY])
    return PaymentRequest(address, chain_id, PAY_FUNCTION, ((INVOICE_ID_TYPE, invoice_id),), value_wei)


def qr_png(uri: str, path: Path | str) -> Path:
    """Write `uri`, which must be a valid payment URI, as a black-on-white PNG QR code at `path`."""
    return _save_png(_qr(uri), path)


def qr_terminal(uri: str) -> str:
    """`uri`, which must be a valid payment URI, as a QR code drawn with half-block characters.

    Two modules share one character cell (upper and lower half blocks), so the code stays square
    in a terminal. The drawing is inverted for the usual light-on-dark terminal: dark modules are
    blank cells and light modules are drawn, so the quiet zone shows as a light frame.
    """
    return _drawn(_qr(uri))


def _qr(uri: str) -> qrcode.QRCode[PilImage]:
    parse_payment_uri(uri)  # never draw a code a wallet would misread
    return _code(uri)


def _checksummed(address: str) -> ChecksumAddress | None:
    """The checksummed form of a 0x-prefixed 40-hex-digit address, or None if it is malformed.

    An address in one case carries no checksum and is taken as it is; a mixed-case one must
    carry a valid EIP-55 checksum, which catches a mistyped character.
    """
    try:
        return parse_address(address)
    except AddressProblem:
        return None


def _positive_integer(uri: str, key: str, text: str) -> int:
    """An EIP-681 number that is an exact integer in 1..2**256-1 (scientific notation allowed)."""
    match = _NUMBER.fullmatch(text)
    if match is None or not (match["whole"] or match["fraction"]):
        raise _malformed(uri, f"{key}={text!r} is not a number")
    whole, fraction, exponent_text = match["whole"], match["fraction"] or "", match["exponent"] or "0"
    if len(whole) + len(fraction) > _NUMBER_MAX_DIGITS or len(exponent_text) > len(str(_NUMBER_MAX_DIGITS)):
        raise _malformed(uri, f"{key}={text[:20]!r}... is out of range")
    exponent = int(exponent_text)
    if exponent < len(fraction):  # EIP-681: only integers; the exponent must cover the decimals
        raise _malformed(uri, f"{key}={text!r} is not an integer")
    number = int(whole + fraction) * 10 ** (exponent - len(fraction))
    if not 1 <= number <= UINT256_MAX:
        raise _malformed(uri, f"{key}={text!r} must be between 1 and 2**256-1")
    return number


def _malformed(uri: str, reason: str) -> ConfigError:
    shown = uri if len(uri) <= URI_SHOWN_IN_ERRORS_CHARS else uri[:URI_SHOWN_IN_ERRORS_CHARS] + "..."
    return ConfigError(f"not an invoice payment URI ({reason}): {shown!r}")
