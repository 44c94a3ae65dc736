"""The dispatcher inside `chaincrm serve`: started with the server, sending what the server's own
follower indexed; off with `webhooks=False` (`--no-webhooks`)."""

from __future__ import annotations

from pathlib import Path

from chaincrm.api.database import open_integration
from chaincrm.chain import Chain
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.portal import PortalConfig
from chaincrm.webhooks import store as tables
from chaincrm.webhooks.store import WebhookStore
from tests.indexer.conftest import register
from tests.portal.conftest import local_url, serve
from tests.sdk.conftest import Staff
from tests.webhooks.conftest import example_receiver, mine, wait_for


def _config(tmp_path: Path, chain: Chain, crm: Crm, **changes: object) -> PortalConfig:
    settings = Settings(rpc_url=chain.endpoint, home=tmp_path / "home")
    save_record(crm.deployment, settings.deployment_path)
    return PortalConfig(
        settings=settings,
        database=tmp_path / "index.sqlite",
        integration_database=tmp_path / "integration.sqlite",
        public_url=local_url(),
        poll_seconds=0.1,
        **changes,  # type: ignore[arg-type]
    )


def test_the_server_sends_a_signed_event_once_it_is_confirmations_deep(
    tmp_path: Path, chain: Chain, crm: Crm, staff: Staff
) -> None:
    config = _config(tmp_path, chain, crm, webhook_confirmations=1)
    endpoints = open_integration(config.integration_database, tmp_path, tables.metadata)
    with example_receiver() as receiver:
        endpoint = WebhookStore(endpoints).add_endpoint(receiver.url, ["customer.registered"])
        receiver.verifying_with(endpoint.secret)
        with serve(config) as portal:
            assert portal.webhooks is not None
            wait_for(lambda: portal.webhooks.ready.is_set(), "the dispatcher's first pass")  # type: ignore[union-attr]
            customer_id = register(crm, staff)
            mine(chain)

            (event,) = wait_for(lambda: list(receiver.events), "the delivery")
    (delivery,) = WebhookStore(endpoints).deliveries()
    endpoints.dispose()

    assert (event["type"], event["data"]["customer_id"]) == ("customer.registered", customer_id)
    assert (delivery.status, delivery.attempts, delivery.event_id) == ("delivered", 1, event["id"])


def test_a_server_without_webhooks_runs_no_dispatcher(tmp_path: Path, chain: Chain, crm: Crm) -> None:
    config = _config(tmp_path, chain, crm, webhooks=False, follow=False)

    with serve(config) as portal:
        running = portal.webhooks

    assert running is None
