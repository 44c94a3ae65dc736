"""Signed webhooks: the index's events sent to subscribed endpoints after confirmations, retried
with backoff, each signed the way Stripe signs (see :mod:`chaincrm.webhooks.signing`).

``events`` turns index rows into typed events, ``store`` keeps endpoints, the outbox and
deliveries in the integration database, ``outbox`` fills it from the index and notices reorgs,
``dispatcher`` is the thread that sends."""
