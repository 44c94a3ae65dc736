"""The signed Offer: its EIP-712 digest, its JSON form, and the pipeline's own digest of it."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak

from chaincrm.contracts.client import Crm
from chaincrm.contracts.offers import DOMAIN_NAME, OFFER_TYPES, Offer, sign_offer
from chaincrm.errors import ConfigError

MANAGER = Account.from_key(b"\x01" * 32)
PIPELINE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _offer(**changes: int) -> Offer:
    terms = {"customer_id": 7, "discount_bps": 500, "expiry": 1_900_000_000, "max_uses": 2, "nonce": 2**255 + 12345}
    return sign_offer(MANAGER, chain_id=31337, pipeline=PIPELINE, **(terms | changes))


def _manual_digest(offer: Offer) -> bytes:
    """EIP-712 by hand: keccak(0x1901 ‖ domainSeparator ‖ hashStruct(offer))."""
    domain_typehash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    separator = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [domain_typehash, keccak(text=DOMAIN_NAME), keccak(text="1"), offer.chain_id, offer.pipeline],
        )
    )
    typehash = keccak(text="Offer(uint256 customerId,uint16 discountBps,uint64 expiry,uint32 maxUses,uint256 nonce)")
    struct = keccak(
        encode(
            ["bytes32", "uint256", "uint16", "uint64", "uint32", "uint256"],
            [typehash, offer.customer_id, offer.discount_bps, offer.expiry, offer.max_uses, offer.nonce],
        )
    )
    return keccak(b"\x19\x01" + separator + struct)


def test_the_digest_is_eip712_as_eth_account_and_a_hand_computation_make_it() -> None:
    offer = _offer()
    domain = {"name": DOMAIN_NAME, "version": "1", "chainId": 31337, "verifyingContract": PIPELINE}
    by_eth_account = _hash_eip191_message(encode_typed_data(domain, OFFER_TYPES, offer.message))

    assert offer.digest == by_eth_account == _manual_digest(offer)


def test_the_signature_recovers_to_the_issuer() -> None:
    offer = _offer()

    assert offer.issuer == MANAGER.address
    assert offer.recovered_signer() == MANAGER.address
    assert Offer(**{**offer.__dict__, "discount_bps": 5000}).recovered_signer() != MANAGER.address


def test_the_nonce_is_random_256_bits_by_default() -> None:
    first = sign_offer(MANAGER, chain_id=1, pipeline=PIPELINE, customer_id=1, discount_bps=1, expiry=1)
    second = sign_offer(MANAGER, chain_id=1, pipeline=PIPELINE, customer_id=1, discount_bps=1, expiry=1)

    assert first.nonce != second.nonce and 0 <= first.nonce < 2**256
    assert first.digest != second.digest


def test_an_offer_travels_as_json_with_its_nonce_as_a_decimal_string() -> None:
    offer = _offer()
    text = offer.to_json()
    fields = json.loads(text)

    assert fields["type"] == "Offer"
    assert fields["nonce"] == str(2**255 + 12345)
    assert fields["issuer"] == MANAGER.address and fields["signature"].startswith("0x")
    assert Offer.from_json(text) == offer


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nonce": "12x"}, "nonce is not a decimal number"),
        ({"discount_bps": 10_000}, "discount_bps must be from 1 to 9999"),
        ({"max_uses": 0}, "max_uses must be from 1 to 4294967295"),
        ({"issuer": "0x1234"}, "issuer is not an address"),
        ({"type": "SetConsent"}, "not a Offer message"),
        ({"extra": 1}, "has fields"),
    ],
)
def test_a_tampered_offer_file_is_refused_in_one_line(change: dict[str, object], message: str) -> None:
    fields = json.loads(_offer().to_json()) | change
    with pytest.raises(ConfigError, match=message):
        Offer.from_json(json.dumps(fields))


def test_signing_refuses_a_discount_out_of_range() -> None:
    with pytest.raises(ConfigError, match="discount_bps"):
        _offer(discount_bps=0)


def test_the_pipeline_computes_the_same_digest(crm: Crm) -> None:
    if "offerDigest" not in {item.get("name") for item in crm.pipeline.contract.abi}:
        pytest.skip("the compiled DealPipeline has no offerDigest yet")
    offer = sign_offer(
        MANAGER,
        chain_id=crm.chain.chain_id,
        pipeline=crm.pipeline.address,
        customer_id=3,
        discount_bps=750,
        expiry=2**40,
    )

    assert bytes(crm.chain.call(crm.pipeline.contract.functions.offerDigest(offer.as_tuple))) == offer.digest
