"""Payment reminders (dunning): `chaincrm automate`, a keeper that follows the index.

One concern per module:

* :mod:`~chaincrm.automation.schedule`: the TOML schedule (levels, SMTP settings), checked to one line;
* :mod:`~chaincrm.automation.reminders`: which reminder is due, and its deterministic content hash;
* :mod:`~chaincrm.automation.sources`: open invoices and reminder records, from the index and the chain;
* :mod:`~chaincrm.automation.journal`: the durable local journal of claims and deliveries;
* :mod:`~chaincrm.automation.mailer`: the e-mail, over SMTP, with a deterministic Message-ID;
* :mod:`~chaincrm.automation.outbox`: the ``invoice.reminder`` webhook event, into the webhooks' outbox;
* :mod:`~chaincrm.automation.keeper`: one pass: decide, claim on-chain, deliver.
"""
