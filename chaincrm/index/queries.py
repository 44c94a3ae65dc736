"""Reading the index back: a customer's timeline and the row counts."""

from __future__ import annotations

from typing import Any, cast

from eth_typing import ChecksumAddress
from sqlalchemy import Connection, Engine, Select, func, literal, select, tuple_

from chaincrm.index import schema as db
from chaincrm.index.database import database_errors
from chaincrm.models import ChainCode, Interaction, InteractionKind, Outcome


class _Codes(dict[int, Any]):
    """Integer code -> enum member by plain dict lookup (an IntEnum call costs a microsecond a
    row). A code the enum does not know becomes its ``unknown(N)`` pseudo-member, made once."""

    def __init__(self, enum: type[ChainCode]) -> None:
        super().__init__({int(member): member for member in enum})
        self.enum = enum

    def __missing__(self, code: int) -> ChainCode:
        member = self[code] = self.enum(code)
        return member


_KINDS = _Codes(InteractionKind)
_OUTCOMES = _Codes(Outcome)


def customer_timeline(
    engine: Engine | Connection,
    customer_id: int,
    *,
    limit: int | None = 100,
    older_than: Interaction | None = None,
    final_only: bool = False,
) -> list[Interaction]:
    """A customer's interactions, newest first (ties in reverse chain order).

    `older_than` pages backwards: pass the last interaction of the previous page. `final_only`
    leaves out rows from blocks that a reorg could still undo.
    """
    t = db.interactions
    query = select_interactions().where(t.c.customer_id == customer_id)
    if older_than is not None:
        key = (older_than.at, older_than.block_number, older_than.log_index, older_than.position)
        older = tuple_(*(literal(value) for value in key))
        query = query.where(tuple_(t.c.at, t.c.block_number, t.c.log_index, t.c.position) < older)
    if final_only:
        last_final = select(db.sync_state.c.last_final_block).where(db.sync_state.c.id == 1).scalar_subquery()
        query = query.where(t.c.block_number <= last_final)
    query = query.order_by(*db.interaction_timeline_order())
    if limit is not None:
        query = query.limit(limit)
    if isinstance(engine, Connection):
        rows = engine.execute(query).all()
    else:
        with database_errors(engine), engine.connect() as conn:
            rows = conn.execute(query).all()
    return [interaction_of_row(row) for row in rows]


def interactions_in_order(
    connection: Connection, customer_id: int | None, from_block: int, to_block: int
) -> list[Interaction]:
    """Interactions (one customer's, or all) from `from_block` to `to_block`, in chain order: the
    same list as ``Registry.interactions`` reads from the chain over those blocks."""
    t = db.interactions
    query = select_interactions().where(t.c.block_number >= from_block, t.c.block_number <= to_block)
    if customer_id is not None:
        query = query.where(t.c.customer_id == customer_id)
    query = query.order_by(t.c.block_number, t.c.log_index, t.c.position)
    return [interaction_of_row(row) for row in connection.execute(query).all()]


def select_interactions() -> Select[Any]:
    """The interaction columns, in the order `interaction_of_row` reads them (INTERACTION_COLUMNS)."""
    t = db.interactions
    return select(
        t.c.customer_id,
        t.c.author,
        t.c.kind,
        t.c.outcome,
        t.c.content_hash,
        t.c.at,
        t.c.block_number,
        t.c.tx_hash,
        t.c.log_index,
        t.c.position,
    )


def interaction_of_row(row: Any) -> Interaction:
    """An Interaction from a row of `select_interactions` (by position)."""
    return Interaction(
        customer_id=row[0],
        author=cast(ChecksumAddress, row[1]),
        kind=_KINDS[row[2]],
        outcome=_OUTCOMES[row[3]],
        content_hash=bytes.fromhex(row[4][2:]),
        at=row[5],
        block_number=row[6],
        tx_hash=row[7],
        log_index=row[8],
        position=row[9],
    )


INTERACTION_COLUMNS = (
    "customer_id",
    "author",
    "kind",
    "outcome",
    "content_hash",
    "at",
    "block_number",
    "tx_hash",
    "log_index",
    "position",
)
_select_interactions = select_interactions  # the names before they were public
_interaction = interaction_of_row


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per event and state table."""
    with database_errors(engine), engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (*db.EVENT_TABLES, *db.STATE_TABLES)
        }


__all__ = [
    "INTERACTION_COLUMNS",
    "customer_timeline",
    "interaction_of_row",
    "interactions_in_order",
    "row_counts",
    "select_interactions",
]
