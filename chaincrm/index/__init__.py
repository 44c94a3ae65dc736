"""The event index: the schema (``schema``) and the indexer that follows the chain into it
(``indexer``)."""
