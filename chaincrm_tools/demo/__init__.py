"""The demo's seeding: staff, customers, interactions, deals and payments on a local chain."""
