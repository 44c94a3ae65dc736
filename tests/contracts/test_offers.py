"""DealPipeline offers: a manager's EIP-712 signed discount, accepted by the customer's own wallet."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from brownie import chain
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.contracts.helpers import (
    LEAD,
    LOST,
    NEGOTIATION,
    ONE_ETH,
    PROPOSAL,
    WON,
    ZERO_ADDRESS,
    private_key_of,
    random_hash,
    reverts_with,
    set_next_block_timestamp,
)
from tests.contracts.offers_fixtures import (
    BPS,
    OFFER_MANAGER_KEY,
    OFFER_TYPES,
    OUTSIDER_KEY,
    STABLECOIN_UNIT,
    UINT96_MAX,
    Offer,
    add_manager,
    deploy_stablecoin,
    discounted,
    new_offer,
    offer_digest,
    pipeline_domain,
    sign_offer,
    win,
)

DEAL_VALUE_WEI = ONE_ETH
DISCOUNT_BPS = 1_000  # 10 %
TOKEN_DEAL_VALUE = 250 * STABLECOIN_UNIT
REASON_PRICE = 1
UNKNOWN_DEAL_ID = 999


@pytest.fixture(scope="module")
def offer_manager(accounts, registry, admin):
    """A manager created for these tests with accounts.add(): its key signs the offers."""
    return add_manager(accounts, registry, admin, OFFER_MANAGER_KEY)


@pytest.fixture(scope="module")
def outsider(accounts):
    """An account with a known key and no role."""
    return accounts.add(OUTSIDER_KEY)


@pytest.fixture(scope="module")
def stablecoin(TestStablecoin, escrow, admin):
    return deploy_stablecoin(TestStablecoin, escrow, admin)


@pytest.fixture(scope="module")
def customer2_id(register, customer2) -> int:
    """Another customer, whose wallet is `customer2`."""
    return register(wallet=customer2)


@pytest.fixture(scope="module")
def walletless_customer_id(register) -> int:
    """A customer with no wallet bound."""
    return register()


@pytest.fixture(scope="module")
def lead_deal_id(pipeline, agent, customer_id) -> int:
    """A deal of `agent` for `customer_id` at Lead, without discount."""
    return pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent}).return_value


@pytest.fixture(scope="module")
def signed(pipeline, offer_manager, customer_id):
    """Build and sign an offer for `customer_id` (by default by `offer_manager`); returns (offer, signature)."""

    def _signed(key: bytes = OFFER_MANAGER_KEY, **fields) -> tuple[Offer, bytes]:
        fields.setdefault("customer_id", customer_id)
        offer = new_offer(**fields)
        return offer, sign_offer(pipeline, key, offer)

    return _signed


@pytest.fixture(scope="module")
def accept(pipeline, offer_manager, customer):
    """Accept `offer` from `by` (the customer's wallet by default); value and currency for a new deal."""

    def _accept(offer: Offer, signature: bytes, deal_id=0, value=None, currency=ZERO_ADDRESS, by=None, issuer=None):
        if value is None:
            value = DEAL_VALUE_WEI if deal_id == 0 else 0
        return pipeline.acceptOffer(
            offer.as_tuple(),
            issuer or offer_manager,
            signature,
            deal_id,
            value,
            currency,
            {"from": by or customer},
        )

    return _accept


@pytest.fixture(scope="module")
def refused(pipeline):
    """Expect a revert with this error and arguments, and no change to the offer's uses or the deals."""

    @contextmanager
    def _refused(offer: Offer, error: str, *args):
        digest = offer_digest(pipeline, offer)
        uses, deals = pipeline.offerUses(digest), pipeline.dealCount()
        with reverts_with(error, *args):
            yield
        assert pipeline.offerUses(digest) == uses
        assert pipeline.dealCount() == deals

    return _refused


# --- the digest ----------------------------------------------------------------------------------


def test_the_offer_digest_is_the_eip712_digest_computed_in_python(pipeline, customer_id):
    offer = new_offer(customer_id, discount_bps=1_234, max_uses=7, nonce=42)

    assert bytes(pipeline.offerDigest(offer.as_tuple())) == offer_digest(pipeline, offer)


def test_the_domain_separator_is_the_pipelines_name_version_chain_and_address(pipeline):
    header = encode_typed_data(pipeline_domain(pipeline), OFFER_TYPES, new_offer(1).message()).header

    assert bytes(pipeline.DOMAIN_SEPARATOR()) == header


def test_offers_that_differ_in_any_field_have_different_digests(pipeline, customer_id):
    offer = new_offer(customer_id, nonce=1)
    variants = [
        new_offer(customer_id + 1, expiry=offer.expiry, nonce=1),
        new_offer(customer_id, discount_bps=offer.discountBps + 1, expiry=offer.expiry, nonce=1),
        new_offer(customer_id, expiry=offer.expiry + 1, nonce=1),
        new_offer(customer_id, expiry=offer.expiry, max_uses=2, nonce=1),
        new_offer(customer_id, expiry=offer.expiry, nonce=2),
    ]

    digests = {bytes(pipeline.offerDigest(o.as_tuple())) for o in [offer, *variants]}

    assert len(digests) == len(variants) + 1


# --- accepting an offer opens a deal at Proposal -------------------------------------------------


def test_accepting_an_offer_opens_a_deal_at_proposal_owned_by_the_issuer(
    pipeline, offer_manager, customer_id, signed, accept
):
    offer, signature = signed()
    deal_id = pipeline.dealCount() + 1

    tx = accept(offer, signature)

    assert tx.return_value == deal_id
    assert pipeline.dealCount() == deal_id
    assert pipeline.dealOf(deal_id).dict() == {
        "owner": offer_manager.address,
        "customerId": customer_id,
        "discountBps": DISCOUNT_BPS,
        "stage": PROPOSAL,
        "valueWei": DEAL_VALUE_WEI,
        "invoiceId": 0,
        "openedAt": tx.timestamp,
        "currency": ZERO_ADDRESS,
    }


def test_accepting_an_offer_emits_deal_opened_and_the_stage_change_from_none_to_proposal(
    pipeline, offer_manager, customer, customer_id, signed, accept
):
    offer, signature = signed()

    tx = accept(offer, signature)

    deal_id = tx.return_value
    assert dict(tx.events["DealOpened"]) == {
        "dealId": deal_id,
        "customerId": customer_id,
        "owner": offer_manager.address,
        "valueWei": DEAL_VALUE_WEI,
        "actor": customer.address,
    }
    assert dict(tx.events["DealStageChanged"]) == {
        "dealId": deal_id,
        "from": 0,
        "to": PROPOSAL,
        "actor": customer.address,
        "at": tx.timestamp,
    }
    assert "DealCurrency" not in tx.events


def test_accepting_an_offer_emits_offer_accepted_and_counts_its_first_use(
    pipeline, offer_manager, customer_id, signed, accept
):
    offer, signature = signed(nonce=77)
    digest = offer_digest(pipeline, offer)

    tx = accept(offer, signature)

    assert dict(tx.events["OfferAccepted"]) == {
        "digest": "0x" + digest.hex(),
        "customerId": customer_id,
        "dealId": tx.return_value,
        "issuer": offer_manager.address,
        "nonce": 77,
        "discountBps": DISCOUNT_BPS,
        "uses": 1,
    }
    assert pipeline.offerUses(digest) == 1


def test_an_offer_signed_by_the_fixtures_manager_is_accepted_too(pipeline, manager, customer_id, signed, accept):
    offer, signature = signed(key=private_key_of(manager))

    tx = accept(offer, signature, issuer=manager)

    assert pipeline.dealOf(tx.return_value)["owner"] == manager.address
    assert tx.events["OfferAccepted"]["issuer"] == manager.address


def test_an_offer_accepted_in_an_allowed_token_opens_a_deal_in_that_token(
    pipeline, stablecoin, offer_manager, customer_id, signed, accept
):
    offer, signature = signed()

    tx = accept(offer, signature, value=TOKEN_DEAL_VALUE, currency=stablecoin)

    deal_id = tx.return_value
    deal = pipeline.dealOf(deal_id)
    assert deal["currency"] == stablecoin.address
    assert deal["valueWei"] == TOKEN_DEAL_VALUE
    assert deal["stage"] == PROPOSAL
    assert dict(tx.events["DealCurrency"]) == {"dealId": deal_id, "currency": stablecoin.address}
    assert tx.events["DealOpened"]["valueWei"] == TOKEN_DEAL_VALUE


def test_a_deal_opened_by_an_offer_is_invoiced_at_the_discounted_value_when_won(
    pipeline, escrow, manager, customer, signed, accept
):
    offer, signature = signed()
    deal_id = accept(offer, signature).return_value

    invoice_id = win(pipeline, deal_id, manager)

    invoice = escrow.invoiceOf(invoice_id)
    assert invoice["amount"] == DEAL_VALUE_WEI - DEAL_VALUE_WEI * DISCOUNT_BPS // BPS
    assert invoice["payer"] == customer.address
    assert invoice["currency"] == ZERO_ADDRESS


def test_the_invoice_rounds_the_discount_down(pipeline, escrow, manager, signed, accept):
    value, bps = 999, 1_234  # the discount is 123.27 wei: 123 wei off
    offer, signature = signed(discount_bps=bps)
    deal_id = accept(offer, signature, value=value).return_value

    invoice_id = win(pipeline, deal_id, manager)

    assert escrow.invoiceOf(invoice_id)["amount"] == 876 == discounted(value, bps)


def test_a_token_deal_opened_by_an_offer_is_invoiced_in_the_token_at_the_discounted_value(
    pipeline, escrow, stablecoin, manager, signed, accept
):
    offer, signature = signed()
    deal_id = accept(offer, signature, value=TOKEN_DEAL_VALUE, currency=stablecoin).return_value

    tx_invoice = win(pipeline, deal_id, manager)

    invoice = escrow.invoiceOf(tx_invoice)
    assert invoice["amount"] == discounted(TOKEN_DEAL_VALUE, DISCOUNT_BPS)
    assert invoice["currency"] == stablecoin.address


def test_the_largest_discount_below_the_whole_value_is_accepted(pipeline, escrow, manager, signed, accept):
    offer, signature = signed(discount_bps=BPS - 1)
    deal_id = accept(offer, signature).return_value

    invoice_id = win(pipeline, deal_id, manager)

    assert escrow.invoiceOf(invoice_id)["amount"] == DEAL_VALUE_WEI // BPS


def test_an_offer_is_accepted_in_the_block_of_its_expiry(pipeline, signed, accept):
    expiry = chain[-1].timestamp + 100
    offer, signature = signed(expiry=expiry)
    set_next_block_timestamp(expiry)

    tx = accept(offer, signature)

    assert tx.timestamp == expiry
    assert pipeline.offerUses(offer_digest(pipeline, offer)) == 1


# --- accepting an offer for an open deal discounts it --------------------------------------------


def test_accepting_an_offer_for_an_open_deal_discounts_that_deal(
    pipeline, agent, customer_id, lead_deal_id, signed, accept
):
    offer, signature = signed()
    before = pipeline.dealOf(lead_deal_id).dict()
    deals = pipeline.dealCount()

    tx = accept(offer, signature, deal_id=lead_deal_id)

    assert tx.return_value == lead_deal_id
    assert pipeline.dealCount() == deals
    assert pipeline.dealOf(lead_deal_id).dict() == {**before, "discountBps": DISCOUNT_BPS}
    assert before["owner"] == agent.address and before["stage"] == LEAD


def test_discounting_an_open_deal_emits_offer_accepted_for_that_deal_and_opens_nothing(
    pipeline, offer_manager, customer_id, lead_deal_id, signed, accept
):
    offer, signature = signed(nonce=5)

    tx = accept(offer, signature, deal_id=lead_deal_id)

    assert dict(tx.events["OfferAccepted"]) == {
        "digest": "0x" + offer_digest(pipeline, offer).hex(),
        "customerId": customer_id,
        "dealId": lead_deal_id,
        "issuer": offer_manager.address,
        "nonce": 5,
        "discountBps": DISCOUNT_BPS,
        "uses": 1,
    }
    for event in ("DealOpened", "DealStageChanged", "DealCurrency"):
        assert event not in tx.events


def test_the_discount_on_an_open_deal_shows_in_its_invoice_when_won(
    pipeline, escrow, agent, lead_deal_id, signed, accept
):
    offer, signature = signed(discount_bps=2_500)
    accept(offer, signature, deal_id=lead_deal_id)

    invoice_id = win(pipeline, lead_deal_id, agent)

    assert escrow.invoiceOf(invoice_id)["amount"] == DEAL_VALUE_WEI * 3 // 4


# --- uses ---------------------------------------------------------------------------------------


def test_an_offer_for_three_uses_is_accepted_three_times_counting_each_use(pipeline, signed, accept):
    offer, signature = signed(max_uses=3)
    digest = offer_digest(pipeline, offer)

    uses = [accept(offer, signature).events["OfferAccepted"]["uses"] for _ in range(3)]

    assert uses == [1, 2, 3]
    assert pipeline.offerUses(digest) == 3


@pytest.mark.parametrize("max_uses", [1, 3])
def test_an_offer_accepted_past_its_maximum_uses_reverts_offer_used_up(pipeline, signed, accept, refused, max_uses):
    offer, signature = signed(max_uses=max_uses)
    for _ in range(max_uses):
        accept(offer, signature)

    with refused(offer, "OfferUsedUp", offer_digest(pipeline, offer), max_uses):
        accept(offer, signature)


def test_a_single_use_offer_cannot_discount_a_deal_after_opening_one(pipeline, lead_deal_id, signed, accept, refused):
    offer, signature = signed(max_uses=1)
    accept(offer, signature)

    with refused(offer, "OfferUsedUp", offer_digest(pipeline, offer), 1):
        accept(offer, signature, deal_id=lead_deal_id)


def test_an_offer_with_no_uses_is_never_accepted(pipeline, signed, accept, refused):
    offer, signature = signed(max_uses=0)

    with refused(offer, "OfferUsedUp", offer_digest(pipeline, offer), 0):
        accept(offer, signature)


# --- cancelling ---------------------------------------------------------------------------------


def test_the_issuer_cancels_an_offer_by_its_nonce(pipeline, offer_manager):
    tx = pipeline.cancelOffer(9, {"from": offer_manager})

    assert dict(tx.events["OfferCancelled"]) == {"issuer": offer_manager.address, "nonce": 9}
    assert pipeline.offerCancelled(offer_manager, 9)
    assert not pipeline.offerCancelled(offer_manager, 10)


def test_a_cancelled_offer_is_refused(pipeline, offer_manager, signed, accept, refused):
    offer, signature = signed(nonce=9)
    pipeline.cancelOffer(9, {"from": offer_manager})

    with refused(offer, "OfferIsCancelled", offer_manager, 9):
        accept(offer, signature)


def test_cancelling_a_nonce_stops_an_offer_already_partly_used(pipeline, offer_manager, signed, accept, refused):
    offer, signature = signed(nonce=9, max_uses=3)
    accept(offer, signature)
    pipeline.cancelOffer(9, {"from": offer_manager})

    with refused(offer, "OfferIsCancelled", offer_manager, 9):
        accept(offer, signature)


def test_another_account_cancelling_the_same_nonce_leaves_the_issuers_offer_valid(
    pipeline, offer_manager, manager, stranger, signed, accept
):
    offer, signature = signed(nonce=9)
    pipeline.cancelOffer(9, {"from": stranger})
    pipeline.cancelOffer(9, {"from": manager})

    accept(offer, signature)

    assert not pipeline.offerCancelled(offer_manager, 9)
    assert pipeline.offerCancelled(stranger, 9)


# --- refusals: time, caller, signature, issuer --------------------------------------------------


def test_an_expired_offer_is_refused(signed, accept, refused):
    expiry = chain[-1].timestamp + 100
    offer, signature = signed(expiry=expiry)
    chain.sleep(101)

    with refused(offer, "OfferExpired", expiry):
        accept(offer, signature)


@pytest.mark.parametrize("caller", ["stranger", "agent", "manager", "offer_manager", "customer2"])
def test_an_offer_accepted_from_another_wallet_is_refused(
    request, customer_id, customer2_id, signed, accept, refused, caller
):
    account = request.getfixturevalue(caller)
    offer, signature = signed()

    with refused(offer, "OfferNotForCaller", customer_id, account):
        accept(offer, signature, by=account)


def test_an_offer_for_a_customer_without_a_wallet_is_refused(customer, walletless_customer_id, signed, accept, refused):
    offer, signature = signed(customer_id=walletless_customer_id)

    with refused(offer, "OfferNotForCaller", walletless_customer_id, customer):
        accept(offer, signature)


def test_an_offer_for_an_erased_customer_is_refused(registry, manager, customer_id, signed, accept, refused):
    offer, signature = signed()
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    with refused(offer, "CustomerIsErased", customer_id):
        accept(offer, signature)


def test_an_offer_signed_by_someone_else_in_the_managers_name_is_refused(offer_manager, signed, accept, refused):
    offer, signature = signed(key=OUTSIDER_KEY)

    with refused(offer, "OfferSignatureInvalid", offer_manager):
        accept(offer, signature)


def test_an_offer_signed_by_an_account_that_is_not_a_manager_is_refused(outsider, signed, accept, refused):
    offer, signature = signed(key=OUTSIDER_KEY)

    with refused(offer, "OfferIssuerNotManager", outsider):
        accept(offer, signature, issuer=outsider)


def test_an_offer_signed_by_an_agent_is_refused(agent, signed, accept, refused):
    offer, signature = signed(key=private_key_of(agent))

    with refused(offer, "OfferIssuerNotManager", agent):
        accept(offer, signature, issuer=agent)


def test_an_offer_whose_issuer_lost_the_manager_role_after_signing_is_refused(
    registry, admin, offer_manager, signed, accept, refused
):
    offer, signature = signed()
    registry.revokeRole(registry.MANAGER_ROLE(), offer_manager, {"from": admin})

    with refused(offer, "OfferIssuerNotManager", offer_manager):
        accept(offer, signature)


@pytest.mark.parametrize("field", ["discountBps", "expiry", "maxUses", "nonce"])
def test_an_offer_with_a_tampered_field_is_refused(offer_manager, signed, accept, refused, field):
    offer, signature = signed(max_uses=1)
    tampered = Offer(**{**offer.message(), field: offer.message()[field] + 1})

    with refused(tampered, "OfferSignatureInvalid", offer_manager):
        accept(tampered, signature)


def test_an_offer_moved_to_another_customer_is_refused(offer_manager, customer2, customer2_id, signed, accept, refused):
    offer, signature = signed()
    tampered = Offer(**{**offer.message(), "customerId": customer2_id})

    with refused(tampered, "OfferSignatureInvalid", offer_manager):
        accept(tampered, signature, by=customer2)


def test_an_offer_signed_for_another_pipeline_is_refused(pipeline, offer_manager, customer_id, accept, refused):
    offer = new_offer(customer_id)
    domain = {**pipeline_domain(pipeline), "verifyingContract": "0x" + "11" * 20}
    signature = bytes(Account.sign_typed_data(OFFER_MANAGER_KEY, domain, OFFER_TYPES, offer.message()).signature)

    with refused(offer, "OfferSignatureInvalid", offer_manager):
        accept(offer, signature)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_the_malleable_twin_of_a_valid_signature_is_refused(offer_manager, signed, accept, refused):
    offer, signature = signed()
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28

    with refused(offer, "OfferSignatureInvalid", offer_manager):
        accept(offer, twin)


def test_a_malformed_signature_is_refused(offer_manager, signed, accept, refused):
    offer, _ = signed()

    with refused(offer, "OfferSignatureInvalid", offer_manager):
        accept(offer, b"\x01" * 64)


@pytest.mark.parametrize("discount_bps", [0, BPS, BPS + 1, 2**16 - 1])
def test_an_offer_without_a_discount_or_of_the_whole_value_is_refused(signed, accept, refused, discount_bps):
    offer, signature = signed(discount_bps=discount_bps)

    with refused(offer, "OfferDiscountInvalid", discount_bps):
        accept(offer, signature)


# --- refusals: the deal -------------------------------------------------------------------------


def test_an_offer_for_another_customers_deal_is_refused(
    pipeline, agent, customer_id, customer2_id, signed, accept, refused
):
    other_deal_id = pipeline.openDeal(customer2_id, agent, DEAL_VALUE_WEI, {"from": agent}).return_value
    offer, signature = signed()

    with refused(offer, "DealNotOfCustomer", other_deal_id, customer_id):
        accept(offer, signature, deal_id=other_deal_id)
    assert pipeline.dealOf(other_deal_id)["discountBps"] == 0


def test_a_deal_already_discounted_is_not_discounted_again(pipeline, lead_deal_id, signed, accept, refused):
    first, first_signature = signed(nonce=1)
    accept(first, first_signature, deal_id=lead_deal_id)
    second, second_signature = signed(nonce=2, discount_bps=5_000)

    with refused(second, "DealAlreadyDiscounted", lead_deal_id):
        accept(second, second_signature, deal_id=lead_deal_id)
    assert pipeline.dealOf(lead_deal_id)["discountBps"] == DISCOUNT_BPS


def test_a_deal_opened_by_an_offer_is_not_discounted_again(signed, accept, refused):
    first, first_signature = signed(nonce=1)
    deal_id = accept(first, first_signature).return_value
    second, second_signature = signed(nonce=2)

    with refused(second, "DealAlreadyDiscounted", deal_id):
        accept(second, second_signature, deal_id=deal_id)


@pytest.mark.parametrize("final", [WON, LOST], ids=["won", "lost"])
def test_an_offer_for_a_final_deal_is_refused(pipeline, agent, lead_deal_id, signed, accept, refused, final):
    if final == WON:
        win(pipeline, lead_deal_id, agent)
    else:
        pipeline.markLost(lead_deal_id, REASON_PRICE, {"from": agent})
    offer, signature = signed()

    with refused(offer, "DealIsFinal", lead_deal_id, final):
        accept(offer, signature, deal_id=lead_deal_id)


def test_an_offer_for_an_unknown_deal_is_refused(signed, accept, refused):
    offer, signature = signed()

    with refused(offer, "DealUnknown", UNKNOWN_DEAL_ID):
        accept(offer, signature, deal_id=UNKNOWN_DEAL_ID)


@pytest.mark.parametrize(
    "terms", [(1, ZERO_ADDRESS), (0, "stablecoin"), (DEAL_VALUE_WEI, "stablecoin")], ids=["value", "currency", "both"]
)
def test_value_or_currency_given_with_a_deal_id_is_refused(request, lead_deal_id, signed, accept, refused, terms):
    value, currency = terms
    if currency == "stablecoin":
        currency = request.getfixturevalue("stablecoin")
    offer, signature = signed()

    with refused(offer, "OfferTermsUnexpected", lead_deal_id):
        accept(offer, signature, deal_id=lead_deal_id, value=value, currency=currency)


@pytest.mark.parametrize("value", [0, UINT96_MAX + 1], ids=["zero", "above-uint96"])
def test_an_offer_opening_a_deal_without_a_valid_value_is_refused(signed, accept, refused, value):
    offer, signature = signed()

    with refused(offer, "DealValueInvalid", value, UINT96_MAX):
        accept(offer, signature, value=value)


def test_an_offer_opening_a_deal_in_a_token_not_allowed_is_refused(
    TestStablecoin, escrow, admin, signed, accept, refused
):
    token = deploy_stablecoin(TestStablecoin, escrow, admin, allowed=False)
    offer, signature = signed()

    with refused(offer, "TokenNotAllowed", token):
        accept(offer, signature, value=TOKEN_DEAL_VALUE, currency=token)


def test_an_offer_opening_a_deal_in_a_token_no_longer_allowed_is_refused(
    escrow, admin, stablecoin, signed, accept, refused
):
    escrow.allowToken(stablecoin, False, {"from": admin})
    offer, signature = signed()

    with refused(offer, "TokenNotAllowed", stablecoin):
        accept(offer, signature, value=TOKEN_DEAL_VALUE, currency=stablecoin)


def test_a_discounted_deal_moves_through_the_stages_as_any_other(pipeline, manager, signed, accept):
    offer, signature = signed()
    deal_id = accept(offer, signature).return_value

    pipeline.moveStage(deal_id, NEGOTIATION, {"from": manager})

    assert pipeline.dealOf(deal_id)["stage"] == NEGOTIATION
