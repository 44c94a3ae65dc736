"""The event index: the CRM contracts' events followed into SQLite or PostgreSQL.

:class:`chaincrm.index.indexer.Indexer` is the entry point; its module docstring maps the modules
here (schema, database, checks, rpc, ranges, decode, entities, store, reorgs, sync, queries)."""
