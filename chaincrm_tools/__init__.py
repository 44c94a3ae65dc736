"""Tools outside the chaincrm library: benchmarks (``bench``) and the demo's seeding (``demo``).

The `chaincrm bench` and `chaincrm demo` commands import them only when run."""
