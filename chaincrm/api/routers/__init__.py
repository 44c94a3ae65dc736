"""One router per resource: customers, deals, invoices, interactions, KPIs."""
