"""Benchmarks: gas and throughput of the contracts through the SDK (``contracts``) and the
indexer (``index``). They print figures and write them to bench-results/; tests never time them."""
