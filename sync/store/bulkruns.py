"""Bulk pre-check runs (device/bulkrun.py) and the 照会番号 registered with the central.

A run checks one day's appointments in batches. Each batch is written before and after every
call to the central: its file id (the idempotency key of its upload) is fixed when the run is
made, its reception number is kept as soon as it arrives, and its attempts and next poll time
after every answer, so a restart in the middle polls the same reception number and never
uploads again. No personal data: appointment ids, states and codes only. Each change that ends
a step is written with its audit entry in one transaction.

The registrations are keyed hashes of a patient number with the card's numbers: whether one was
registered can be asked, what was registered cannot be read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text

# Run states.
RUNNING, DONE, FAILED = "running", "done", "failed"
# Batch states: not yet received by the central, received (polling its reception number),
# answered, ended without an answer.
PENDING, POLLING, BATCH_DONE, BATCH_FAILED = "pending", "polling", "done", "failed"
OPEN_BATCH = (PENDING, POLLING)

_RUN_COLUMNS = (
    "id, day, trigger, actor, state, total, done, normal, attention, created_at, finished_at"
)
_BATCH_COLUMNS = (
    "id, run_id, seq, file_id, appointment_ids, state, reception_number, attempts, next_at,"
    " waiting, reason, updated_at"
)


@dataclass(frozen=True)
class BulkRunRow:
    id: int
    day: str  # YYYYMMDD (clinic time) of the appointments checked
    trigger: str  # "nightly" or "now"
    actor: str
    state: str  # RUNNING, DONE, FAILED
    total: int  # appointments in the run
    done: int  # appointments classified (FAILED ones included)
    normal: int  # of those, VALID
    attention: int  # of those, anything else
    created_at: datetime
    finished_at: datetime | None

    @property
    def running(self) -> bool:
        return self.state == RUNNING


@dataclass(frozen=True)
class BulkBatchRow:
    id: int
    run_id: int
    seq: int  # 0, 1, … in the run
    file_id: str
    appointment_ids: tuple[int, ...]
    state: str  # PENDING, POLLING, BATCH_DONE, BATCH_FAILED
    reception_number: str  # "" until the central received the upload
    attempts: int  # calls since the last step forward (the backoff's exponent)
    next_at: datetime  # not to be called before
    waiting: bool  # the last attempt found the central unavailable
    reason: str  # why it failed (a CentralFault value and a code), or the last wait's cause
    updated_at: datetime

    @property
    def open(self) -> bool:
        return self.state in OPEN_BATCH


@dataclass(frozen=True)
class PrecheckRecord:
    """One appointment's pre-check to store: its class and the unit's answer (b"" if none)."""

    appointment_id: int
    klass: str  # a sync.precheck.PrecheckClass value
    raw: bytes


@dataclass(frozen=True)
class BatchEnd:
    """How a batch ended, written with its appointments' pre-checks (Store.record_prechecks)."""

    batch_id: int
    failed: bool
    reason: str
    done: int
    normal: int
    attention: int


class BulkRuns(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    # -- runs ----------------------------------------------------------------------------
    @reserve_on_full
    def create_run(
        self,
        day: str,
        *,
        trigger: str,
        actor: str,
        batches: Sequence[tuple[str, Sequence[int]]],
        first_at: datetime,
    ) -> BulkRunRow:
        """A new run of `batches` (file id, appointment ids), all due at `first_at`; a run of
        no batch is done at once."""
        now = instant_text(self._now())
        total = sum(len(ids) for _, ids in batches)
        state = RUNNING if batches else DONE
        with self._database.write() as db:
            run_id = int(
                db.execute(
                    "INSERT INTO bulk_runs (day, trigger, actor, state, total, created_at,"
                    " finished_at) VALUES (?,?,?,?,?,?,?)",
                    [day, trigger, actor, state, total, now, "" if batches else now],
                ).lastrowid
                or 0
            )
            for seq, (file_id, ids) in enumerate(batches):
                db.execute(
                    "INSERT INTO bulk_batches (run_id, seq, file_id, appointment_ids, state,"
                    " next_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                    [
                        run_id,
                        seq,
                        file_id,
                        ",".join(str(i) for i in ids),
                        PENDING,
                        instant_text(first_at),
                        now,
                    ],
                )
            self._audit.append(
                actor,
                "bulk.started",
                f"bulk_run:{run_id}",
                f"day={day} trigger={trigger} appointments={total} batches={len(batches)}",
            )
        run = self.run(run_id)
        assert run is not None
        return run

    def run(self, run_id: int) -> BulkRunRow | None:
        rows = self._runs("WHERE id = ?", [run_id])
        return rows[0] if rows else None

    def running_runs(self) -> list[BulkRunRow]:
        return self._runs("WHERE state = ? ORDER BY id", [RUNNING])

    def latest_run(self, day: str | None = None) -> BulkRunRow | None:
        """The newest run (of `day`, when given)."""
        if day is None:
            rows = self._runs("ORDER BY id DESC LIMIT 1", [])
        else:
            rows = self._runs("WHERE day = ? ORDER BY id DESC LIMIT 1", [day])
        return rows[0] if rows else None

    @reserve_on_full
    def finish_run(self, run_id: int, state: str, *, actor: str) -> None:
        now = instant_text(self._now())
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE bulk_runs SET state = ?, finished_at = ? WHERE id = ? AND state = ?",
                [state, now, run_id, RUNNING],
            )
            if cursor.rowcount:
                counts = db.execute(
                    "SELECT total, done, normal, attention FROM bulk_runs WHERE id = ?", [run_id]
                ).fetchone()
                self._audit.append(
                    actor,
                    "bulk.finished",
                    f"bulk_run:{run_id}",
                    f"state={state} total={counts[0]} done={counts[1]} normal={counts[2]}"
                    f" attention={counts[3]}",
                )

    # -- batches -------------------------------------------------------------------------
    def batches(self, run_id: int) -> list[BulkBatchRow]:
        return self._batches("WHERE run_id = ? ORDER BY seq", [run_id])

    def batch(self, batch_id: int) -> BulkBatchRow | None:
        rows = self._batches("WHERE id = ?", [batch_id])
        return rows[0] if rows else None

    def due_batches(self, now: datetime) -> list[BulkBatchRow]:
        """Open batches whose next call is due, oldest run and batch first."""
        return self._batches(
            "WHERE state IN (?, ?) AND next_at <= ? ORDER BY run_id, seq",
            [PENDING, POLLING, instant_text(now)],
        )

    def next_due(self) -> datetime | None:
        """When the next open batch is due (None: nothing open)."""
        with self._database.lock:
            row = self._db.execute(
                "SELECT MIN(next_at) FROM bulk_batches WHERE state IN (?, ?)", [PENDING, POLLING]
            ).fetchone()
        return instant_of(row[0]) if row and row[0] else None

    @reserve_on_full
    def batch_received(
        self, batch_id: int, reception_number: str, *, next_at: datetime, actor: str
    ) -> None:
        """The central received the upload: from now on the batch polls `reception_number`."""
        now = instant_text(self._now())
        with self._database.write() as db:
            db.execute(
                "UPDATE bulk_batches SET state = ?, reception_number = ?, attempts = 0,"
                " next_at = ?, waiting = 0, reason = '', updated_at = ? WHERE id = ?",
                [POLLING, reception_number, instant_text(next_at), now, batch_id],
            )
            self._audit.append(
                actor, "bulk.received", f"bulk_batch:{batch_id}", f"reception={reception_number}"
            )

    @reserve_on_full
    def batch_again(
        self, batch_id: int, *, next_at: datetime, waiting: bool, reason: str = ""
    ) -> None:
        """No step forward (not ready yet, or the central unavailable): call again at
        `next_at`, one attempt more. Not audited: a poll changes nothing but the time."""
        with self._database.write() as db:
            db.execute(
                "UPDATE bulk_batches SET attempts = attempts + 1, next_at = ?, waiting = ?,"
                " reason = ?, updated_at = ? WHERE id = ?",
                [
                    instant_text(next_at),
                    1 if waiting else 0,
                    reason,
                    instant_text(self._now()),
                    batch_id,
                ],
            )

    @reserve_on_full
    def batch_ended(
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
        """The batch ended (answered, or failed with `reason`); its appointments' counts are
        added to its run's in the same transaction. Nothing when it had already ended."""
        now = instant_text(self._now())
        state = BATCH_FAILED if failed else BATCH_DONE
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE bulk_batches SET state = ?, reason = ?, waiting = 0, updated_at = ?"
                " WHERE id = ? AND state IN (?, ?)",
                [state, reason, now, batch_id, PENDING, POLLING],
            )
            if not cursor.rowcount:
                return
            db.execute(
                "UPDATE bulk_runs SET done = done + ?, normal = normal + ?,"
                " attention = attention + ? WHERE id ="
                " (SELECT run_id FROM bulk_batches WHERE id = ?)",
                [done, normal, attention, batch_id],
            )
            self._audit.append(
                actor,
                "bulk.failed" if failed else "bulk.answered",
                f"bulk_batch:{batch_id}",
                f"{reason} done={done} normal={normal} attention={attention}".strip(),
            )

    # -- 照会番号 registrations ----------------------------------------------------------
    def reference_key(self, reference_number: str, numbers: str) -> str:
        return self._database.cipher.blind_index("reference", f"{reference_number}\x00{numbers}")

    def registered(self, keys: Iterable[str]) -> set[str]:
        """Those of `keys` already registered."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        with self._database.lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    str(r[0])
                    for r in self._db.execute(
                        "SELECT bi_reference FROM reference_registrations"
                        f" WHERE bi_reference IN ({marks})",
                        chunk,
                    ).fetchall()
                )
        return found

    @reserve_on_full
    def mark_registered(self, keys: Sequence[str], *, actor: str) -> None:
        if not keys:
            return
        now = instant_text(self._now())
        with self._database.write() as db:
            db.conn.executemany(
                "INSERT OR IGNORE INTO reference_registrations (bi_reference, registered_at)"
                " VALUES (?, ?)",
                [(k, now) for k in keys],
            )
            self._audit.append(actor, "reference.registered", "reference_numbers", str(len(keys)))

    # -- reading -------------------------------------------------------------------------
    def _runs(self, where: str, params: list[object]) -> list[BulkRunRow]:
        with self._database.lock:
            rows = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM bulk_runs {where}", params)
            fetched = rows.fetchall()
        return [
            BulkRunRow(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                str(r[4]),
                int(r[5]),
                int(r[6]),
                int(r[7]),
                int(r[8]),
                instant_of(r[9]),
                instant_of(r[10]) if r[10] else None,
            )
            for r in fetched
        ]

    def _batches(self, where: str, params: list[object]) -> list[BulkBatchRow]:
        with self._database.lock:
            rows = self._db.execute(f"SELECT {_BATCH_COLUMNS} FROM bulk_batches {where}", params)
            fetched = rows.fetchall()
        return [
            BulkBatchRow(
                int(r[0]),
                int(r[1]),
                int(r[2]),
                str(r[3]),
                tuple(int(i) for i in str(r[4]).split(",") if i),
                str(r[5]),
                str(r[6]),
                int(r[7]),
                instant_of(r[8]),
                bool(r[9]),
                str(r[10]),
                instant_of(r[11]),
            )
            for r in fetched
        ]
