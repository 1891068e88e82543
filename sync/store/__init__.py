"""The appliance's local state in one SQLite file — the only package that speaks SQL.

`Store` is the facade the appliance holds: it opens the one database object
(sync/store/database.py: connection, lock, write path, migrations, key check) and hands it to
one part per group of tables — visits and confirmations (visits.py), consents and the clinical
cache (consents.py), users and sessions (accounts.py), settings (settings.py), the audit chain
(auditlog.py) — and delegates each call to the part that owns it. Instants are stored in one
text form (instant.py); the schema is the migrations in schema.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path

import sqlite_utils

from sync.auditchain import AuditAnchor, AuditVerdict
from sync.clock import utc_now
from sync.fieldcrypt import FieldCipher
from sync.reserve import DiskState
from sync.store import (
    accounts,
    appointments,
    clinicaldocs,
    consents,
    outbox,
    statements,
    visits,
)
from sync.store.accounts import Accounts, SessionRow, UserExists, UserRow
from sync.store.aidtickets import AidTicketRecord, AidTicketRow, AidTickets
from sync.store.appointments import (
    AppointmentInput,
    AppointmentRow,
    Appointments,
    Arrival,
    ArrivalPrecheck,
)
from sync.store.auditlog import (
    AUDIT_CHAIN_KEYED,
    AuditEntry,
    AuditLog,
    anchor_path_of,
    verify_audit_file,
)
from sync.store.backup import Snapshot, snapshot_file
from sync.store.bulkruns import BatchEnd, BulkBatchRow, BulkRunRow, BulkRuns, PrecheckRecord
from sync.store.clinicaldocs import CachedDocument, ClinicalDocuments
from sync.store.consents import CachedClinical, ConsentRecord, Consents
from sync.store.database import (
    Database,
    StoreError,
    StoreFullError,
    holds_data,
    reserve_on_full,
)
from sync.store.deskalerts import DeskAlertRow, DeskAlerts
from sync.store.exports import ExportCounts, ExportItem, Exports
from sync.store.facefiles import FaceFiles
from sync.store.instant import instant_of, instant_text
from sync.store.lock import StoreLock
from sync.store.outbox import Outbox, OutboxAlert, OutboxCounts, OutboxItem
from sync.store.retention import RecordsPurged, RecordsRetention
from sync.store.schema import MIGRATIONS
from sync.store.settings import SETTING_DEFAULT_MARK, Settings
from sync.store.statements import StatementRow, Statements
from sync.store.tokens import ApiTokenRow, TokenHashTaken, Tokens
from sync.store.visits import (
    OFFLINE,
    Confirmation,
    RetentionRefused,
    VisitRecord,
    Visits,
    card_identity,
    numbers_key,
)
from sync.xmlmsg import QualificationRequest, QualificationResult

__all__ = [
    "AUDIT_CHAIN_KEYED",
    "ApiTokenRow",
    "AidTicketRecord",
    "AidTicketRow",
    "AppointmentInput",
    "AppointmentRow",
    "Arrival",
    "ArrivalPrecheck",
    "MIGRATIONS",
    "OFFLINE",
    "SETTING_DEFAULT_MARK",
    "AuditEntry",
    "BatchEnd",
    "BulkBatchRow",
    "BulkRunRow",
    "ExportCounts",
    "ExportItem",
    "CachedClinical",
    "CachedDocument",
    "Confirmation",
    "ConsentRecord",
    "DeskAlertRow",
    "OutboxAlert",
    "OutboxCounts",
    "OutboxItem",
    "PrecheckRecord",
    "RetentionRefused",
    "SessionRow",
    "StatementRow",
    "Store",
    "StoreError",
    "StoreFullError",
    "TokenHashTaken",
    "UserExists",
    "UserRow",
    "VisitRecord",
    "anchor_path_of",
    "card_identity",
    "holds_data",
    "instant_of",
    "instant_text",
    "numbers_key",
    "verify_audit_file",
]


class Store:
    def __init__(
        self,
        path: Path | str,
        cipher: FieldCipher,
        clock: Callable[[], datetime] = utc_now,
        *,
        reserve_bytes: int = 0,
        anchor_path: Path | None = None,
        migrating: Callable[[], object] = lambda: None,
    ):
        """`reserve_bytes`: disk held back beside the database for a full disk (sync.reserve);
        `anchor_path`: the audit anchor file (default <database>.anchor; none in memory);
        `migrating`: called as a migration done in batches goes on (Database)."""
        database = Database(
            path,
            cipher,
            clock,
            migrations=MIGRATIONS,
            reserve_bytes=reserve_bytes,
            migrating=migrating,
        )
        self._database = database
        self._path = None if database.in_memory else Path(path)
        self._anchor_path = anchor_path
        anchor = (
            None
            if database.in_memory
            else AuditAnchor(anchor_path_of(Path(path), anchor_path), cipher.audit_key)
        )
        self._audit = AuditLog(database, anchor)
        self._consents = Consents(database)
        self._clinical_documents = ClinicalDocuments(database)
        self._visits = Visits(database, audit=self._audit, consents=self._consents)
        self._accounts = Accounts(database)
        self._settings = Settings(database, audit=self._audit)
        self._statements = Statements(database, audit=self._audit)
        self._outbox = Outbox(database, audit=self._audit)
        self._exports = Exports(database, audit=self._audit)
        self._face_files = FaceFiles(database)
        self._tokens = Tokens(database, audit=self._audit)
        self._desk_alerts = DeskAlerts(database, audit=self._audit)
        self._appointments = Appointments(database, audit=self._audit)
        self._bulk_runs = BulkRuns(database, audit=self._audit)
        self._aid_tickets = AidTickets(database, audit=self._audit)
        try:
            database.check_key(
                [
                    visits.encrypted_sample,
                    accounts.encrypted_sample,
                    consents.encrypted_sample,
                    clinicaldocs.encrypted_sample,
                    statements.encrypted_sample,
                    outbox.encrypted_sample,
                    appointments.encrypted_sample,
                ]
            )
            self._audit.key_chain()
            if database.schema_version >= visits.SEARCH_INDEX_MIGRATION:
                self._visits.backfill_search_indexes()  # rows stored before it
            if database.schema_version >= visits.SUMMARY_MIGRATION:
                # The newest rows stored before it; the rest by the summarize_answers job.
                self._visits.backfill_summaries(visits.SUMMARIES_AT_OPEN)
        except BaseException:
            self.close()
            raise

    # The connection, its lock and the clock, for tests that reach below the API.
    @property
    def _db(self) -> sqlite_utils.Database:
        return self._database.db

    @property
    def _lock(self) -> StoreLock:
        return self._database.lock

    @property
    def _clock(self) -> Callable[[], datetime]:
        return self._database.clock

    @_clock.setter
    def _clock(self, clock: Callable[[], datetime]) -> None:
        self._database.clock = clock

    # -- the database ---------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self._database.schema_version

    def now(self) -> datetime:
        """The clock this store stamps its rows with, for callers that compute bounds on them."""
        return self._database.clock()

    def disk_state(self) -> DiskState | None:
        return self._database.disk_state()

    def backup_snapshot(self, target: Path) -> Snapshot:
        """A consistent copy of the database in `target` and its anchor as read before it
        (sync/store/backup.py); the appliance goes on writing meanwhile."""
        if self._path is None:
            raise StoreError("an in-memory store has no file to back up")
        return snapshot_file(
            self._path, target, self._database.cipher, anchor_path=self._anchor_path
        )

    def close(self) -> None:
        with self._database.lock:
            self._audit.close()
            self._database.close()

    # -- appointments and their pre-check (sync/store/appointments.py) ---------------------
    def import_appointments(
        self, rows: Sequence[AppointmentInput], *, actor: str, source: str
    ) -> int:
        return self._appointments.import_appointments(rows, actor=actor, source=source)

    def appointments_on(self, day: str) -> list[AppointmentRow]:
        """The day's appointments (YYYYMMDD in Japan), ordered by time then id."""
        return self._appointments.appointments_on(day)

    def appointment(self, appointment_id: int) -> AppointmentRow | None:
        return self._appointments.appointment(appointment_id)

    def appointment_for_arrival(
        self,
        insurer_number: str,
        symbol: str,
        number: str,
        birthdate: str,
        day: str,
        reference_number: str = "",
    ) -> AppointmentRow | None:
        return self._appointments.appointment_for_arrival(
            insurer_number, symbol, number, birthdate, day, reference_number
        )

    def prechecks_for_arrivals(self, arrivals: Sequence[Arrival]) -> list[ArrivalPrecheck | None]:
        return self._appointments.prechecks_for_arrivals(arrivals)

    def record_precheck(
        self, appointment_id: int, *, klass: str, raw: bytes, checked_at: datetime, actor: str
    ) -> None:
        self._appointments.record_precheck(
            appointment_id, klass=klass, raw=raw, checked_at=checked_at, actor=actor
        )

    def precheck_raw(self, appointment_id: int) -> bytes | None:
        return self._appointments.precheck_raw(appointment_id)

    # -- 被保険者資格申立書 -----------------------------------------------------------------
    def save_statement(
        self,
        fields: dict[str, str],
        *,
        actor: str,
        visit_id: str | None = None,
        confirmation_id: int | None = None,
    ) -> StatementRow:
        return self._statements.save_statement(
            fields, actor=actor, visit_id=visit_id, confirmation_id=confirmation_id
        )

    def statement(self, statement_id: int) -> StatementRow | None:
        return self._statements.statement(statement_id)

    def open_statements(self, limit: int = 100) -> list[StatementRow]:
        return self._statements.open_statements(limit)

    def count_open_statements(self) -> int:
        return self._statements.count_open_statements()

    def resolve_statement(self, statement_id: int, *, actor: str) -> bool:
        return self._statements.resolve_statement(statement_id, actor=actor)

    # -- visits and confirmations ---------------------------------------------------------
    def record_visit(self, visit: VisitRecord, actor: str = "reader") -> None:
        self._visits.record_visit(visit, actor)

    @reserve_on_full
    def save_confirmation(
        self,
        *,
        file_id: str,
        raw_result: bytes,
        result: QualificationResult,
        kind: str,
        method: str,
        actor: str,
        visit: VisitRecord | None = None,
        source: str = "online",
        card: str = "",
        export: str = "",
        face_file: tuple[str, str] | None = None,
        card_from: int | None = None,
    ) -> Confirmation:
        """The answer (Visits.save_confirmation); an online answer of a card also closes the
        open 申立書 made from that card's offline visits, and `export` (a face file's name)
        queues its file for the receipt computer, in the same transaction."""
        with self._database.write():
            stored = self._visits.save_confirmation(
                file_id=file_id,
                raw_result=raw_result,
                result=result,
                kind=kind,
                method=method,
                actor=actor,
                visit=visit,
                source=source,
                card=card,
                card_from=card_from,
            )
            if source == "online" and (card or card_from is not None):
                index = (
                    self._database.lookup_tag("card", card)
                    if card
                    else self._visits.card_index_of(stored.id)
                )
                self._statements.resolve_for_card(index, stored.id, actor=actor)
            if export:
                self._exports.queue(stored.id, export)
            if face_file is not None:  # (name, sha256) of the terminal's file it came from
                self._face_files.record(*face_file, "stored", stored.id)
        return stored

    # -- face files from the official terminal ---------------------------------------------
    def face_file_seen(self, name: str, sha256: str) -> str:
        return self._face_files.seen(name, sha256)

    def record_face_file(self, name: str, sha256: str, outcome: str) -> None:
        self._face_files.record(name, sha256, outcome)

    # -- face files for the receipt computer ------------------------------------------------
    def exports_pending(self, limit: int = 100) -> list[ExportItem]:
        return self._exports.pending(limit)

    def export_written(self, export_id: int, *, actor: str) -> None:
        self._exports.written(export_id, actor=actor)

    def export_failed(self, export_id: int, error: str) -> None:
        self._exports.failed(export_id, error)

    def export_counts(self) -> ExportCounts:
        return self._exports.counts()

    @reserve_on_full
    def save_offline_visit(
        self,
        *,
        file_id: str,
        visit: VisitRecord,
        card: str,
        earlier_id: int | None,
        actor: str,
        recheck: QualificationRequest | None,
        reason: str = "",
    ) -> Confirmation:
        """An offline card visit (Visits.save_offline) and, when its 前回確認 gave numbers to
        ask with, the re-check of those numbers queued (charged: the earlier answer; `reason`:
        why it was not asked now), in one transaction: the visit is never kept without its
        re-check."""
        with self._database.write():
            stored = self._visits.save_offline(
                file_id=file_id, visit=visit, card=card, earlier_id=earlier_id, actor=actor
            )
            if recheck is not None:
                self._outbox.enqueue(
                    recheck,
                    kind="numbers",
                    method="numbers",
                    actor=actor,
                    visit_id=visit.id,
                    charged_id=earlier_id,
                    reason=reason,
                )
        return stored

    def last_card_answer(self, card: str) -> Confirmation | None:
        return self._visits.last_card_answer(card)

    def visit(self, visit_id: str) -> VisitRecord | None:
        return self._visits.visit(visit_id)

    def confirmation(self, confirmation_id: int) -> Confirmation | None:
        return self._visits.confirmation(confirmation_id)

    def confirmations_by_id(self, ids: Collection[int]) -> dict[int, Confirmation]:
        return self._visits.confirmations_by_id(ids)

    def visits_by_id(self, visit_ids: Collection[str]) -> dict[str, VisitRecord]:
        return self._visits.visits_by_id(visit_ids)

    def backfill_summaries(self, limit: int | None = None) -> int:
        """Row summaries for rows stored before them (Visits.backfill_summaries)."""
        return self._visits.backfill_summaries(limit)

    def recent_confirmations(self, since: datetime, limit: int = 200) -> list[Confirmation]:
        return self._visits.recent_confirmations(since, limit)

    def confirmations_after(self, after_id: int, limit: int) -> list[Confirmation]:
        return self._visits.confirmations_after(after_id, limit)

    def find_by_numbers(
        self, insurer_number: str, symbol: str, number: str, limit: int = 20
    ) -> list[Confirmation]:
        return self._visits.find_by_numbers(insurer_number, symbol, number, limit)

    def find_by_kana(self, kana: str, limit: int = 20) -> list[Confirmation]:
        return self._visits.find_by_kana(kana, limit)

    def find_by_birthdate(self, birthdate: str, limit: int = 20) -> list[Confirmation]:
        return self._visits.find_by_birthdate(birthdate, limit)

    def find_by_insurer(self, insurer_number: str, limit: int = 20) -> list[Confirmation]:
        return self._visits.find_by_insurer(insurer_number, limit)

    # -- desk alerts ----------------------------------------------------------------------
    def raise_desk_alert(
        self, kind: str, *, visit_id: str = "", detail: str = "", actor: str = "appliance"
    ) -> DeskAlertRow | None:
        return self._desk_alerts.raise_alert(kind, visit_id=visit_id, detail=detail, actor=actor)

    def acknowledge_desk_alert(
        self, alert_id: int, *, actor: str, display_name: str
    ) -> DeskAlertRow | None:
        return self._desk_alerts.acknowledge(alert_id, actor=actor, display_name=display_name)

    def desk_alert(self, alert_id: int) -> DeskAlertRow | None:
        return self._desk_alerts.alert(alert_id)

    def open_desk_alerts(self, limit: int = 100) -> list[DeskAlertRow]:
        return self._desk_alerts.open_alerts(limit)

    # -- bulk pre-check runs and 照会番号 registrations (sync/store/bulkruns.py) ----------
    def create_bulk_run(
        self,
        day: str,
        *,
        trigger: str,
        actor: str,
        batches: Sequence[tuple[str, Sequence[int]]],
        first_at: datetime,
        kind: str = "precheck",
    ) -> BulkRunRow:
        return self._bulk_runs.create_run(
            day, trigger=trigger, actor=actor, batches=batches, first_at=first_at, kind=kind
        )

    def bulk_run(self, run_id: int) -> BulkRunRow | None:
        return self._bulk_runs.run(run_id)

    def running_bulk_runs(self) -> list[BulkRunRow]:
        return self._bulk_runs.running_runs()

    def latest_bulk_run(
        self, day: str | None = None, *, kind: str = "precheck"
    ) -> BulkRunRow | None:
        return self._bulk_runs.latest_run(day, kind=kind)

    def finish_bulk_run(self, run_id: int, state: str, *, actor: str) -> None:
        self._bulk_runs.finish_run(run_id, state, actor=actor)

    def bulk_batches(self, run_id: int) -> list[BulkBatchRow]:
        return self._bulk_runs.batches(run_id)

    def bulk_batch(self, batch_id: int) -> BulkBatchRow | None:
        return self._bulk_runs.batch(batch_id)

    def due_bulk_batches(self, now: datetime) -> list[BulkBatchRow]:
        return self._bulk_runs.due_batches(now)

    def next_bulk_due(self) -> datetime | None:
        return self._bulk_runs.next_due()

    def bulk_batch_received(
        self, batch_id: int, reception_number: str, *, next_at: datetime, actor: str
    ) -> None:
        self._bulk_runs.batch_received(batch_id, reception_number, next_at=next_at, actor=actor)

    def bulk_batch_again(
        self, batch_id: int, *, next_at: datetime, waiting: bool, reason: str = ""
    ) -> None:
        self._bulk_runs.batch_again(batch_id, next_at=next_at, waiting=waiting, reason=reason)

    def bulk_batch_ended(
        self,
        batch_id: int,
        *,
        failed: bool,
        reason: str,
        done: int,
        normal: int,
        attention: int,
        actor: str,
    ) -> None:
        self._bulk_runs.batch_ended(
            batch_id,
            failed=failed,
            reason=reason,
            done=done,
            normal=normal,
            attention=attention,
            actor=actor,
        )

    @reserve_on_full
    def record_prechecks(
        self,
        prechecks: Sequence[PrecheckRecord],
        *,
        checked_at: datetime,
        actor: str,
        batch_end: BatchEnd | None = None,
    ) -> None:
        """Several appointments' pre-checks (each with its audit entry) and, when given, the end
        of the bulk batch they belong to, in one transaction: a batch is kept whole or not at
        all, with one commit instead of one per appointment."""
        with self._database.write():
            for p in prechecks:
                self._appointments.record_precheck(
                    p.appointment_id, klass=p.klass, raw=p.raw, checked_at=checked_at, actor=actor
                )
            if batch_end is not None:
                self._end_batch(batch_end, actor)

    # -- the monthly 医療扶助 bulk's answers (sync/store/aidtickets.py) -------------------
    @reserve_on_full
    def keep_aid_tickets(
        self,
        month: str,
        records: Sequence[AidTicketRecord],
        *,
        checked_at: datetime,
        actor: str,
        run_id: int,
        batch_end: BatchEnd,
    ) -> None:
        """A batch's recipients' answers and the batch's end, in one transaction."""
        with self._database.write():
            self._aid_tickets.record(
                month, records, checked_at=checked_at, actor=actor, run_id=run_id
            )
            self._end_batch(batch_end, actor)

    def _end_batch(self, end: BatchEnd, actor: str) -> None:
        """Inside the caller's transaction: a bulk batch's end, as its results are kept."""
        self._bulk_runs.batch_ended(
            end.batch_id,
            failed=end.failed,
            reason=end.reason,
            done=end.done,
            normal=end.normal,
            attention=end.attention,
            actor=actor,
        )

    def aid_recipient_key(self, public_number: str, recipient: str, birthdate: str) -> str:
        return self._aid_tickets.key(public_number, recipient, birthdate)

    def aid_ticket_status(self, keys: Sequence[str], month: str) -> dict[str, AidTicketRow]:
        return self._aid_tickets.status(keys, month)

    def aid_ticket_answer(self, key: str, month: str) -> bytes | None:
        """The kept answer (XML) of a recipient for `month`; the caller audits the view."""
        return self._aid_tickets.answer(key, month)

    def purge_bulk_runs(self, before: datetime, *, actor: str, limit: int = 500) -> int:
        """Ended bulk runs (and their batches) created before `before`, and 医療扶助 answers
        checked before it: one short transaction (sync/store/bulkruns.py)."""
        return self._bulk_runs.purge(before, actor=actor, limit=limit)

    def reference_key(self, reference_number: str, numbers: str) -> str:
        """Keyed hash naming a 照会番号 registration (patient number with the card's numbers)."""
        return self._bulk_runs.reference_key(reference_number, numbers)

    def references_registered(self, keys: Iterable[str]) -> set[str]:
        return self._bulk_runs.registered(keys)

    def mark_references_registered(self, keys: Sequence[str], *, actor: str) -> None:
        self._bulk_runs.mark_registered(keys, actor=actor)

    def confirmation_raw(self, confirmation_id: int) -> bytes | None:
        return self._visits.confirmation_raw(confirmation_id)

    def count_confirmations(self) -> int:
        return self._visits.count_confirmations()

    def count_visits(self, state: str | None = None) -> int:
        return self._visits.count_visits(state)

    def purge_older_than(
        self, before: datetime, *, actor: str, max_share: float = 1.0, small_run: int = 0
    ) -> tuple[int, int]:
        return self._visits.purge_older_than(
            before, actor=actor, max_share=max_share, small_run=small_run
        )

    # -- consents and the clinical cache --------------------------------------------------
    def consents(self, confirmation_id: int) -> list[ConsentRecord]:
        return self._consents.consents(confirmation_id)

    def put_clinical_cache(
        self,
        confirmation_id: int,
        kind: str,
        data: bytes,
        fetched_at: datetime,
        expires_at: datetime,
    ) -> None:
        self._consents.put_clinical_cache(confirmation_id, kind, data, fetched_at, expires_at)

    def clinical_cache(
        self, confirmation_id: int, kind: str, now: datetime
    ) -> CachedClinical | None:
        return self._consents.clinical_cache(confirmation_id, kind, now)

    def purge_clinical_cache(self, now: datetime) -> int:
        """Cached answers and documents whose consent has ended at `now`: how many."""
        return self._consents.purge_clinical_cache(
            now
        ) + self._clinical_documents.purge_clinical_documents(now)

    def put_clinical_document(
        self,
        confirmation_id: int,
        kind: str,
        data: bytes,
        media_type: str,
        fetched_at: datetime,
        expires_at: datetime,
    ) -> None:
        self._clinical_documents.put_clinical_document(
            confirmation_id, kind, data, media_type, fetched_at, expires_at
        )

    def clinical_document(
        self, confirmation_id: int, kind: str, now: datetime
    ) -> CachedDocument | None:
        return self._clinical_documents.clinical_document(confirmation_id, kind, now)

    # -- users and sessions ---------------------------------------------------------------
    def add_user(
        self, username: str, display_name: str, roles: tuple[str, ...], password_hash: str
    ) -> UserRow:
        """UserExists when the username is taken."""
        return self._accounts.add_user(username, display_name, roles, password_hash)

    def user_by_username(self, username: str) -> UserRow | None:
        return self._accounts.user_by_username(username)

    def user(self, user_id: int) -> UserRow | None:
        return self._accounts.user(user_id)

    def list_users(self) -> list[UserRow]:
        return self._accounts.list_users()

    def count_users(self) -> int:
        return self._accounts.count_users()

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        self._accounts.set_user_disabled(user_id, disabled)

    def set_user_roles(self, user_id: int, roles: tuple[str, ...]) -> None:
        self._accounts.set_user_roles(user_id, roles)

    def set_password_hash(self, user_id: int, password_hash: str, *, at: datetime) -> None:
        self._accounts.set_password_hash(user_id, password_hash, at=at)

    def set_totp_secret(self, user_id: int, secret: bytes | None) -> None:
        self._accounts.set_totp_secret(user_id, secret)

    def totp_secret(self, user_id: int) -> bytes | None:
        return self._accounts.totp_secret(user_id)

    def use_totp_step(self, user_id: int, step: int) -> bool:
        return self._accounts.use_totp_step(user_id, step)

    def add_session(
        self,
        token_hash: str,
        user_id: int,
        csrf_token: str,
        client: str,
        *,
        at: datetime | None = None,
    ) -> SessionRow:
        return self._accounts.add_session(token_hash, user_id, csrf_token, client, at=at)

    def session(self, token_hash: str) -> SessionRow | None:
        return self._accounts.session(token_hash)

    def touch_session(self, token_hash: str, at: datetime) -> None:
        self._accounts.touch_session(token_hash, at)

    def set_session_second_factor(self, token_hash: str) -> None:
        self._accounts.set_session_second_factor(token_hash)

    def delete_session(self, token_hash: str) -> None:
        self._accounts.delete_session(token_hash)

    def delete_sessions_of(self, user_id: int, *, keep: str = "") -> int:
        return self._accounts.delete_sessions_of(user_id, keep=keep)

    def purge_sessions(self, *, seen_before: datetime, created_before: datetime) -> int:
        return self._accounts.purge_sessions(seen_before=seen_before, created_before=created_before)

    # -- settings saved on the admin page -------------------------------------------------
    def stored_settings(self) -> dict[str, str]:
        return self._settings.stored_settings()

    def save_setting(
        self, name: str, value: str, *, actor: str, previous: str | None = None
    ) -> None:
        self._settings.save_setting(name, value, actor=actor, previous=previous)

    def delete_setting(self, name: str, *, actor: str) -> None:
        self._settings.delete_setting(name, actor=actor)

    # -- tokens of the read API -------------------------------------------------------------
    def add_api_token(self, name: str, token_hash: str, *, actor: str) -> ApiTokenRow:
        """TokenHashTaken when the hash exists; written with its audit entry."""
        return self._tokens.add_token(name, token_hash, actor=actor)

    def revoke_api_token(self, token_id: int, *, actor: str) -> bool:
        return self._tokens.revoke_token(token_id, actor=actor)

    def api_token_by_hash(self, token_hash: str) -> ApiTokenRow | None:
        return self._tokens.token_by_hash(token_hash)

    def api_token(self, token_id: int) -> ApiTokenRow | None:
        return self._tokens.token(token_id)

    def api_tokens(self) -> list[ApiTokenRow]:
        return self._tokens.list_tokens()

    def touch_api_token(self, token_id: int, at: datetime) -> None:
        self._tokens.touch_token(token_id, at)

    # -- audit ----------------------------------------------------------------------------
    def audit(self, actor: str, action: str, subject: str, detail: str = "") -> None:
        self._audit.record(actor, action, subject, detail)

    def audit_all(self, actor: str, entries: Sequence[tuple[str, str, str]]) -> None:
        """(action, subject, detail) entries of one view, committed together."""
        self._audit.record_all(actor, entries)

    def audit_entries(self, limit: int = 1000) -> list[AuditEntry]:
        return self._audit.audit_entries(limit)

    def audit_for_subject(self, subject: str, limit: int = 200) -> list[AuditEntry]:
        return self._audit.audit_for_subject(subject, limit)

    def audit_search(
        self,
        *,
        actor: str = "",
        action: str = "",
        subject_prefix: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        return self._audit.audit_search(
            actor=actor,
            action=action,
            subject_prefix=subject_prefix,
            since=since,
            until=until,
            before_id=before_id,
            limit=limit,
        )

    def audit_actions(self) -> list[str]:
        return self._audit.audit_actions()

    def verify_audit(self) -> int | None:
        return self._audit.verify_audit()

    def verify_audit_detail(self) -> AuditVerdict:
        return self._audit.verify_audit_detail()

    def purge_audit_before(self, before: datetime, *, actor: str) -> int:
        return self._audit.purge_audit_before(before, actor=actor)

    # -- the re-check queue (outbox) and its changed-answer alerts ----------------------------
    def enqueue_recheck(
        self,
        request: QualificationRequest,
        *,
        kind: str,
        method: str,
        actor: str,
        visit_id: str | None = None,
        charged_id: int | None = None,
        card_from: int | None = None,
        reason: str = "",
    ) -> bool:
        return self._outbox.enqueue(
            request,
            kind=kind,
            method=method,
            actor=actor,
            visit_id=visit_id,
            charged_id=charged_id,
            card_from=card_from,
            reason=reason,
        )

    def outbox_item(self, outbox_id: int) -> OutboxItem | None:
        return self._outbox.item(outbox_id)

    def outbox_item_by_file_id(self, file_id: str) -> OutboxItem | None:
        return self._outbox.item_by_file_id(file_id)

    def outbox_due(self, now: datetime, limit: int) -> list[OutboxItem]:
        return self._outbox.due(now, limit)

    def outbox_items(self, limit: int = 200) -> list[OutboxItem]:
        return self._outbox.items(limit)

    def confirmation_id_for(self, file_id: str) -> int | None:
        return self._outbox.answer_for(file_id)

    def outbox_retry(self, outbox_id: int, *, next_at: datetime, reason: str, actor: str) -> None:
        self._outbox.retry(outbox_id, next_at=next_at, reason=reason, actor=actor)

    def outbox_end(self, outbox_id: int, *, reason: str, actor: str) -> None:
        self._outbox.end(outbox_id, reason=reason, actor=actor)

    def outbox_answered(
        self,
        outbox_id: int,
        *,
        answer_id: int,
        changes: tuple[str, ...],
        earlier_id: int | None,
        actor: str,
        recovered: bool = False,
    ) -> int | None:
        return self._outbox.answered(
            outbox_id,
            answer_id=answer_id,
            changes=changes,
            earlier_id=earlier_id,
            actor=actor,
            recovered=recovered,
        )

    def outbox_alerts(self, *, open_only: bool = True, limit: int = 200) -> list[OutboxAlert]:
        return self._outbox.alerts(open_only=open_only, limit=limit)

    def outbox_alert(self, alert_id: int) -> OutboxAlert | None:
        return self._outbox.alert(alert_id)

    def outbox_alerts_for(self, confirmation_id: int) -> list[OutboxAlert]:
        return self._outbox.alerts_for_confirmation(confirmation_id)

    def acknowledge_outbox_alert(self, alert_id: int, *, actor: str) -> bool:
        return self._outbox.acknowledge(alert_id, actor=actor)

    def outbox_counts(self) -> OutboxCounts:
        return self._outbox.counts()

    # -- retention of the 申立書 and the finished re-checks (sync/store/retention.py) -------
    def purge_records_before(
        self, before: datetime, *, actor: str, max_share: float = 1.0, small_run: int = 0
    ) -> RecordsPurged:
        """Statements made, re-check items finished and alerts acknowledged before `before`;
        RecordsRetentionRefused (nothing deleted) past the share rule."""
        retention = RecordsRetention(
            self._database,
            audit=self._audit,
            statements=self._statements,
            outbox=self._outbox,
            appointments=self._appointments,
        )
        return retention.purge_before(before, actor=actor, max_share=max_share, small_run=small_run)

    # -- re-checks given up unanswered (outbox_give_up_h) ------------------------------------
    def outbox_queued_by(self, created_by: datetime, limit: int) -> list[OutboxItem]:
        return self._outbox.queued_by(created_by, limit)

    def outbox_give_up(self, outbox_id: int, *, reason: str, actor: str) -> int | None:
        return self._outbox.give_up(outbox_id, reason=reason, actor=actor)
