"""Offers from a customer's history: rules read from a TOML file (:mod:`.rules`), who qualifies
(:mod:`.suggest`), and the local log of offers issued (:mod:`.log`). The signed offer itself is
:mod:`chaincrm.contracts.offers`; its figures in reports, :mod:`chaincrm.reports.offers`."""
