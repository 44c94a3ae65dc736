"""EIP-712 pieces shared by every domain this project signs in (the registry's, the pipeline's, an
ERC-2612 token's). No imports: read commands load it without eth-account."""

EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
"""The EIP712Domain fields: name, version, chainId, verifyingContract."""
