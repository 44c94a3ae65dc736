"""Typed wrappers of the deployed contracts (``registry``, ``pipeline``, ``escrow``), their
deployment (``deployment``), the client that holds them (``client``), the EIP-712 messages the
registry verifies (``signatures``) and invoice payment requests (``payments``)."""
