"""The reminder keeper: one pass decides which reminders are due, claims them on-chain, delivers them.

A pass (:meth:`Keeper.pass_once`):

1. recovers: a claim left ``claiming`` by a keeper that stopped mid-pass is settled from the chain
   (its record is there and first: ``claimed``; another's is first: ``lost``; none: forgotten,
   decided afresh below);
2. decides: every invoice the index holds as Open, still open on the chain after the index's last
   block, gets the last level whose time has come by the chain's clock, unless a reminder record
   with that content hash is already on the chain (the index, then the chain for the blocks the
   index has not read) or in this keeper's journal;
3. claims: the reminders are journalled (``claiming``), then recorded as interactions of kind
   ``reminder`` by the keeper's address, up to 1,000 in one ``logInteractions`` transaction;
4. after the receipts, for each content hash, the FIRST record on the chain (block, log index,
   position) decides: this keeper's record -> ``claimed``; another keeper's -> ``lost``, nothing sent;
5. delivers every claimed reminder not delivered yet (this pass's and any earlier pass's): the
   webhook event into the outbox, and the e-mail to the address in the customer's profile,
   decrypted with the keeper's key. The journal marks each e-mail sent right after the SMTP server
   accepted it. If the server stays down after the retries, the rest wait for the next pass.

What "exactly once" means here. On the chain, exactly one record is the first for each reminder,
so across restarts and any number of keepers at most one keeper ever owns a reminder, and it never
loses it (its journal, or the chain when the journal lost the claim, says so). The e-mail is sent
at least once and, with one exception, exactly once: if the keeper stops after the SMTP server
accepted a message and before the journal's write of that fact is on disk (a window of one local
SQLite commit), the next pass sends it again. That copy carries the same Message-ID, so a receiving
system that deduplicates by Message-ID shows it once. A keeper whose journal is lost entirely
re-sends the reminders it had claimed but cannot know it delivered (the chain says it owns them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hexbytes import HexBytes
from sqlalchemy import Engine

from chaincrm.automation.journal import Entry, Journal
from chaincrm.automation.mailer import Letter, Mailer, SmtpUnavailable, compose
from chaincrm.automation.outbox import ReminderEvent, enqueue_reminders
from chaincrm.automation.reminders import Reminder, level_reached, reminder_hash
from chaincrm.automation.schedule import Schedule
from chaincrm.automation.sources import RecordRef, Snapshot, Sources
from chaincrm.contracts.interactions import MAX_BATCH_RECORDS, InteractionEntry, pack_records
from chaincrm.errors import PrivacyError
from chaincrm.models import InteractionKind, Outcome

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm
    from chaincrm.privacy.customers import CustomerData

DEFAULT_POLL_SECONDS = 60.0
PROFILE_UNREADABLE = "profile not readable by the keeper (no access grant or no key)"
NO_EMAIL_FIELD = "no e-mail address in the profile"
ERASED = "customer erased"
SETTLED = "the invoice was no longer open when its e-mail could be sent"
NO_GRANT = "no active access grant for the keeper: not recorded"


@dataclass(frozen=True)
class PassReport:
    """What one pass did."""

    recorded: int = 0
    batches: int = 0
    tx_hashes: tuple[str, ...] = ()
    lost: int = 0  # claims another keeper's record beat
    emails_sent: int = 0
    emails_waiting: int = 0  # claimed, not yet accepted by the SMTP server (retried next pass)
    without_email: int = 0
    without_email_ids: tuple[int, ...] = ()  # invoice ids, for the journal and the output
    not_recorded: tuple[tuple[int, str], ...] = ()  # (invoice id, why): erased, or no grant for the keeper
    webhooks_queued: int = 0
    smtp_problem: str | None = None
    open_invoices: int = 0
    index_block: int = 0
    head: int = 0
    seconds: float = 0.0
    decide_seconds: float = 0.0
    record_seconds: float = 0.0
    deliver_seconds: float = 0.0

    def line(self) -> str:
        batches = f"{self.batches} batch" + ("es" if self.batches != 1 else "")
        parts = [f"{self.recorded:,} reminder{'s' if self.recorded != 1 else ''} recorded in {batches}"]
        if self.tx_hashes:
            shown = ", ".join(self.tx_hashes[:3]) + (", ..." if len(self.tx_hashes) > 3 else "")
            parts[0] += f" (tx {shown})"
        parts.append(f"{self.emails_sent:,} e-mail{'s' if self.emails_sent != 1 else ''} sent")
        if self.without_email:
            parts.append(f"{self.without_email:,} without an e-mail address")
        if self.webhooks_queued:
            parts.append(f"{self.webhooks_queued} webhook deliver{'ies' if self.webhooks_queued != 1 else 'y'} queued")
        if self.lost:
            parts.append(f"{self.lost} already claimed by another keeper")
        if self.emails_waiting:
            waiting = f"{self.emails_waiting:,} e-mail{'s' if self.emails_waiting != 1 else ''} waiting"
            parts.append(f"{waiting} ({self.smtp_problem})")
        return ", ".join(parts)

    def fields(self) -> dict[str, object]:
        return {
            "recorded": self.recorded,
            "batches": self.batches,
            "tx_hashes": list(self.tx_hashes),
            "lost": self.lost,
            "emails_sent": self.emails_sent,
            "emails_waiting": self.emails_waiting,
            "without_email": self.without_email,
            "without_email_invoices": list(self.without_email_ids),
            "not_recorded": [{"invoice_id": invoice_id, "reason": why} for invoice_id, why in self.not_recorded],
            "webhooks_queued": self.webhooks_queued,
            "smtp_problem": self.smtp_problem,
            "open_invoices": self.open_invoices,
            "index_block": self.index_block,
            "head": self.head,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Tally:
    emails_sent: int = 0
    emails_waiting: int = 0
    without: list[int] = field(default_factory=list)
    webhooks: int = 0
    smtp_problem: str | None = None


class Keeper:
    """Sends the schedule's reminders for one deployment, as `account` (an agent who reads profiles).

    `integration` is the webhooks' database (None: levels with the webhook channel only record);
    `mailer` is built from the schedule's SMTP settings when not given.
    """

    def __init__(
        self,
        crm: Crm,
        customers: CustomerData,
        account: LocalAccount,
        schedule: Schedule,
        sources: Sources,
        journal: Journal,
        *,
        integration: Engine | None = None,
        mailer: Mailer | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.crm = crm
        self.customers = customers
        self.account = account
        self.address = account.address
        self.schedule = schedule
        self.sources = sources
        self.journal = journal
        self.integration = integration
        self.mailer = mailer if mailer is not None or schedule.smtp is None else Mailer(schedule.smtp)
        self.clock = clock
        self.chain_id = crm.deployment.chain_id
        self.escrow = crm.deployment.escrow
        self.skipped: list[tuple[int, str]] = []  # (invoice id, why) the last pass could not record

    def close(self) -> None:
        if self.mailer is not None:
            self.mailer.close()

    # ------------------------------------------------------------------ the pass

    def pass_once(self, snapshot: Snapshot | None = None) -> PassReport:
        """One pass; `snapshot` (from ``sources.snapshot()``) is the view to decide on, taken now
        when not given (an older one is safe: the first record on the chain still decides)."""
        started = self.clock()
        self._recover()
        snapshot = snapshot or self.sources.snapshot()
        due = self.decide(snapshot)
        decided = self.clock()
        txs, outcomes = self._claim(due, snapshot)
        recorded = self.clock()
        tally = self._deliver({invoice.id for invoice in snapshot.invoices})
        done = self.clock()
        return PassReport(
            recorded=sum(1 for won in outcomes.values() if won is not None),
            batches=len(txs),
            tx_hashes=tuple(txs),
            lost=sum(1 for won in outcomes.values() if won is None),
            emails_sent=tally.emails_sent,
            emails_waiting=tally.emails_waiting,
            without_email=len(tally.without) + len(self.skipped),
            without_email_ids=tuple(tally.without) + tuple(invoice_id for invoice_id, _ in self.skipped),
            not_recorded=tuple(self.skipped),
            webhooks_queued=tally.webhooks,
            smtp_problem=tally.smtp_problem,
            open_invoices=len(snapshot.invoices),
            index_block=snapshot.index_block,
            head=snapshot.head,
            seconds=done - started,
            decide_seconds=decided - started,
            record_seconds=recorded - decided,
            deliver_seconds=done - recorded,
        )

    def decide(self, snapshot: Snapshot) -> list[Reminder]:
        """The reminders due now that nobody has recorded and this journal does not hold."""
        known = self.journal.known()
        due: list[Reminder] = []
        for invoice in snapshot.invoices:
            level = level_reached(self.schedule.levels, invoice.due_at, snapshot.now)
            if level is None:
                continue
            content_hash = reminder_hash(self.chain_id, self.escrow, invoice.id, level.name)
            if content_hash in snapshot.first_records or content_hash in known:
                continue
            due.append(Reminder(invoice, level, content_hash))
        return self._recordable(due)

    def _recordable(self, due: list[Reminder]) -> list[Reminder]:
        """`due` without the customers the keeper cannot record for (erased, or no active access
        grant: the registry would refuse the whole batch); those are journalled as skipped."""
        customers = sorted({r.invoice.customer_id for r in due if not r.invoice.customer_erased})
        functions = self.crm.registry.contract.functions
        granted = dict(
            zip(
                customers,
                self.crm.chain.call_many([functions.hasActiveGrant(c, self.address) for c in customers])
                if customers
                else [],
                strict=True,
            )
        )
        kept, skipped = [], []
        for reminder in due:
            if reminder.invoice.customer_erased:
                skipped.append((reminder, ERASED))
            elif not granted.get(reminder.invoice.customer_id):
                skipped.append((reminder, NO_GRANT))
            else:
                kept.append(reminder)
        self.skipped = [(r.invoice.id, why) for r, why in skipped]
        if skipped:
            self.journal.note_skipped([(r.content_hash, r.invoice.id, r.level.name, why) for r, why in skipped])
        return kept

    # ------------------------------------------------------------------ steps

    def _recover(self) -> None:
        """Settle the claims a stopped keeper left ``claiming``, from the chain."""
        left = self.journal.claiming()
        if not left:
            return
        start = self.crm.deployment.block_number
        firsts = self.sources.records_between(start, self.crm.chain.block_number("latest"))
        outcomes: dict[bytes, tuple[str, int, int, int] | None] = {}
        gone: list[bytes] = []
        for entry in left:
            first = firsts.get(entry.content_hash)
            if first is None:
                gone.append(entry.content_hash)
            elif self._is_mine(first, entry.tx_hash):
                outcomes[entry.content_hash] = (first.tx_hash, first.block_number, first.log_index, first.position)
            else:
                outcomes[entry.content_hash] = None
        if outcomes:
            self.journal.resolve_many(outcomes)
        if gone:
            self.journal.forget(gone)

    def _claim(
        self, due: Sequence[Reminder], snapshot: Snapshot
    ) -> tuple[list[str], dict[bytes, tuple[str, int, int, int] | None]]:
        if not due:
            return [], {}
        self.journal.add_claims(
            [
                Entry(
                    content_hash=r.content_hash,
                    invoice_id=r.invoice.id,
                    level=r.level.name,
                    customer_id=r.invoice.customer_id,
                    due_at=r.invoice.due_at,
                    amount_wei=r.invoice.amount_wei,
                    keeper=self.address,
                    state="claiming",
                    tx_hash=None,
                    block_number=None,
                    log_index=None,
                    position=None,
                    email="pending" if r.level.emails else "not_wanted",
                    email_problem=None,
                    webhook="pending" if r.level.webhooks and self.integration is not None else "not_wanted",
                )
                for r in due
            ]
        )
        registry = self.crm.registry
        chain = self.crm.chain
        batches = [due[i : i + MAX_BATCH_RECORDS] for i in range(0, len(due), MAX_BATCH_RECORDS)]
        sent: list[HexBytes] = []
        for batch in batches:  # every batch sent before any receipt is read: one block can take several
            records = pack_records(
                InteractionEntry(r.invoice.customer_id, InteractionKind.REMINDER, Outcome.NONE, r.content_hash)
                for r in batch
            )
            tx_hash = chain.send(registry.contract.functions.logInteractions(records), self.account)
            self.journal.set_tx([r.content_hash for r in batch], tx_hash.to_0x_hex())
            sent.append(tx_hash)
        receipts = [chain.wait(tx_hash) for tx_hash in sent]
        last_block = max(int(receipt["blockNumber"]) for receipt in receipts)
        firsts = dict(snapshot.first_records)
        for content_hash, ref in self.sources.records_between(snapshot.index_block + 1, last_block).items():
            held = firsts.get(content_hash)
            if held is None or ref.order < held.order:
                firsts[content_hash] = ref
        mine = {tx_hash.to_0x_hex() for tx_hash in sent}
        outcomes: dict[bytes, tuple[str, int, int, int] | None] = {}
        for reminder in due:
            first = firsts.get(reminder.content_hash)
            if first is not None and first.tx_hash in mine:
                outcomes[reminder.content_hash] = (first.tx_hash, first.block_number, first.log_index, first.position)
            else:
                outcomes[reminder.content_hash] = None
        self.journal.resolve_many(outcomes)
        return [tx_hash.to_0x_hex() for tx_hash in sent], outcomes

    def _deliver(self, still_open: set[int]) -> _Tally:
        tally = _Tally()
        self._queue_webhooks(tally)
        pending = self.journal.undelivered_email()
        if not pending:
            return tally
        profiles: dict[int, tuple[str, str] | str] = {}
        for entry in pending:
            if entry.invoice_id not in still_open:  # paid or cancelled while its e-mail waited
                self.journal.email_dropped(entry.content_hash, SETTLED)
                continue
            found = profiles.get(entry.customer_id)
            if found is None:
                found = profiles[entry.customer_id] = self._address_of(entry.customer_id)
            if isinstance(found, str):
                self.journal.no_address(entry.content_hash, found)
                tally.without.append(entry.invoice_id)
                continue
            if tally.smtp_problem is not None or self.mailer is None:
                tally.emails_waiting += 1
                tally.smtp_problem = tally.smtp_problem or "no [smtp] settings"
                continue
            name, to = found
            assert self.schedule.smtp is not None
            letter = Letter(
                entry.content_hash,
                to,
                name,
                entry.invoice_id,
                entry.customer_id,
                entry.amount_wei,
                self._amount_text(entry.invoice_id, entry.amount_wei),
                entry.due_at,
                self.schedule.level(entry.level),
            )
            try:
                self.mailer.send(compose(letter, self.schedule.smtp))
            except SmtpUnavailable as exc:
                self.journal.email_failed(entry.content_hash, str(exc))
                tally.smtp_problem = str(exc)
                tally.emails_waiting += 1
                continue
            self.journal.email_sent(entry.content_hash)  # right after the server accepted it
            tally.emails_sent += 1
        if self.mailer is not None:
            self.mailer.close()
        return tally

    def _queue_webhooks(self, tally: _Tally) -> None:
        if self.integration is None:
            return
        waiting = self.journal.unqueued_webhooks()
        if not waiting:
            return
        times: dict[int, int] = {}
        events = []
        for entry in waiting:
            assert entry.block_number is not None and entry.tx_hash is not None
            if entry.block_number not in times:
                times[entry.block_number] = int(self.crm.chain.w3.eth.get_block(entry.block_number)["timestamp"])
            events.append(
                ReminderEvent(
                    chain_id=self.chain_id,
                    invoice_id=entry.invoice_id,
                    level=entry.level,
                    customer_id=entry.customer_id,
                    due_at=entry.due_at,
                    amount=entry.amount_wei,
                    currency=self.crm.escrow.invoice(entry.invoice_id).currency,
                    content_hash=entry.content_hash,
                    tx_hash=entry.tx_hash,
                    block_number=entry.block_number,
                    log_index=int(entry.log_index or 0),
                    position=int(entry.position or 0),
                    at=times[entry.block_number],
                )
            )
        tally.webhooks = enqueue_reminders(self.integration, events)
        self.journal.webhooks_queued([entry.content_hash for entry in waiting])

    def _amount_text(self, invoice_id: int, amount: int) -> str:
        """The amount in the invoice's own currency (its symbol and decimals read from the token)."""
        from chaincrm.currency import amount_text, token_info

        currency = self.crm.escrow.invoice(invoice_id).currency
        return amount_text(amount, token_info(self.crm.chain, currency))

    def _address_of(self, customer_id: int) -> tuple[str, str] | str:
        """(name, e-mail) from the customer's profile as the keeper reads it, or why there is none."""
        from chaincrm.models import CustomerStatus

        if self.crm.registry.customer(customer_id).status is not CustomerStatus.ACTIVE:
            return ERASED
        try:
            profile = self.customers.read(customer_id, self.account)
        except PrivacyError:  # an IPFS failure (StorageError) stops the pass instead: retried next time
            return PROFILE_UNREADABLE
        if not profile.email:
            return NO_EMAIL_FIELD
        return profile.name, profile.email

    def _is_mine(self, first: RecordRef, tx_hash: str | None) -> bool:
        if tx_hash is not None:
            return first.tx_hash == tx_hash
        return first.author == self.address  # the claim's hash was never journalled: its author decides


__all__ = ["DEFAULT_POLL_SECONDS", "Keeper", "PassReport"]
