"""Visits and the answers (confirmations) they ended with, and their retention purge.

Personal data lives only inside the encrypted raw answer (AES-GCM bound to its row); searching
uses keyed hashes (blind indexes) of kana, birth date and insurance numbers.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import sqlite_utils

from sync.codes import Verdict, badge
from sync.packing import pack, unpack
from sync.rowsummary import SummaryReader, summarize
from sync.store.auditlog import AuditLog
from sync.store.consents import Consents
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text
from sync.store.progress import add_progress, take_progress
from sync.xmlmsg import Qualification, QualificationResult, parse_result


@dataclass(frozen=True)
class VisitRecord:
    id: str
    started_at: datetime
    ended_at: datetime
    reader: str
    method: str  # 'pin', 'visual' or '' when the visit ended before a method was chosen
    state: str  # 'done', 'aborted', 'failed'
    reason: str = ""
    file_id: str = ""
    staff: str = ""  # the staff user who checked the holder visually ('' for PIN visits)


@dataclass(frozen=True)
class Confirmation:
    """One stored answer, decrypted in memory for display.

    `summary` is what a list row shows (sync/rowsummary.py): the answer without the
    addresses, read from the row's compact summary without parsing the XML. `result` is the
    whole answer: the XML is decrypted and parsed on first access only (the detail page, the
    API, the export, a re-check). A Confirmation built from a parsed answer (just saved) has
    it as both.
    """

    id: int
    file_id: str
    visit_id: str | None
    created_at: datetime
    kind: str
    method: str
    source: str
    badge: str
    summary: QualificationResult
    # A visit stored offline (source "offline") has no answer of its own (`result` is empty):
    # this is the card's last online answer shown beside it as 前回確認, if there was one.
    earlier_id: int | None = None
    # Reads and parses the whole answer (None: `summary` is the whole answer).
    load: Callable[[], QualificationResult] | None = field(default=None, repr=False, compare=False)

    @property
    def offline(self) -> bool:
        return self.source == OFFLINE

    @cached_property
    def result(self) -> QualificationResult:
        return self.load() if self.load is not None else self.summary


# `Confirmation.source` of a card visit made while the central was unreachable.
OFFLINE = "offline"
# The look-up columns of a row with no personal data (an offline visit): no value is the empty
# BLOB in every look-up column (migration 24), not the columns' older default ''.
_NO_TAGS = ",".join(["X''"] * 6)


class RetentionRefused(Exception):
    """A retention purge that would have deleted rows a wrong clock makes look old; nothing was
    deleted. `rule` is "share" (too large a part of a table) or "newer_than_seen" (rows newer
    than the newest row the previous run saw); the counts are what the run would have deleted."""

    def __init__(
        self,
        *,
        rule: str,
        before: str,
        newest_seen: str,
        confirmations: int,
        confirmations_total: int,
        visits: int,
        visits_total: int,
        newer: int,
    ) -> None:
        super().__init__(
            f"retention purge refused ({rule}): would delete confirmations "
            f"{confirmations}/{confirmations_total}, visits {visits}/{visits_total}, "
            f"{newer} newer than the last run saw ({newest_seen or 'none'}); before={before}"
        )
        self.rule = rule
        self.before = before
        self.newest_seen = newest_seen
        self.confirmations = confirmations
        self.confirmations_total = confirmations_total
        self.visits = visits
        self.visits_total = visits_total
        self.newer = newer


# The migration that added the keyed hashes of surname, given name and insurer.
SEARCH_INDEX_MIGRATION = 18
# The migration that added row summaries and packed answers (renumbered when merged).
SUMMARY_MIGRATION = 21
# Rows given their summary when the store opens (the newest: what the lists show); the rest
# by the summarize_answers job, a bounded number at a time, so an upgrade never holds the start.
SUMMARIES_AT_OPEN = 2000


def kana_parts(name_kana: str) -> tuple[str, str]:
    """(surname, given name) of a kana name written with a space between them; a name
    without one has no parts to search by alone ("", "")."""
    parts = unicodedata.normalize("NFKC", name_kana).split()
    if len(parts) < 2:
        return "", ""
    return parts[0], "".join(parts[1:])


def insurer_key(insurer_number: str) -> str:
    """An insurer number as indexed: digits, leading zeros dropped (6-digit 国保 numbers travel
    padded to 8)."""
    return insurer_number.strip().lstrip("0")


def numbers_key(insurer_number: str, symbol: str, number: str) -> str:
    """What identifies an insured person's card for lookups: insurer, symbol, number."""
    return "|".join([insurer_number.strip().lstrip("0"), symbol.strip(), number.strip()])


# The instant column of each table the retention purge ages rows by (each indexed:
# confirmations_created, visits_ended).
_AGED_BY = (("confirmations", "created_at"), ("visits", "ended_at"))
# Rows a retention batch deletes: one short write a card save may wait behind. Each deleted
# confirmation touches its ten indexes and what cascades from it: 200 took 4-7 ms a batch
# (21 ms at most) on the development machine under load, 500 up to 80-130 ms (bench/scale.py).
PURGE_BATCH = 200
# Index entries the purge's guards count per hold of the lock (a few ms).
_COUNT_CHUNK = 20_000
# retention_state: what the batches of the current run deleted so far ("confirmations=N
# visits=M"), until its audit entry says it; left by a run stopped between two batches.
_PROGRESS = "purge_progress"


def oldest_rows_sql(table: str, column: str) -> str:
    """The next batch of a retention purge: the oldest rows before the bound (?), at most
    the batch's size (?), found by a range of the instant's index."""
    return f"SELECT rowid FROM {table} WHERE {column} < ? ORDER BY {column} LIMIT ?"


class Visits(Part):
    def __init__(self, database: Database, *, audit: AuditLog, consents: Consents) -> None:
        super().__init__(database)
        self._audit = audit
        self._consents = consents
        self._summary_of = SummaryReader()  # the desk's rows decoded once, not per page

    @reserve_on_full
    def record_visit(self, visit: VisitRecord, actor: str = "reader") -> None:
        """A visit that ended without an answer (aborted or failed): no personal data."""
        with self._database.write():
            self._insert_visit(visit)
            self._audit.append(actor, f"visit.{visit.state}", f"visit:{visit.id}", visit.reason)

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
        card_from: int | None = None,
    ) -> Confirmation:
        """Store an answer (and the visit it ended) in one transaction, with its audit entry.
        `result` is `raw_result` as the caller parsed it: the XML is parsed once per answer.
        `card`: the card's identity (`card_identity`) on a card visit, kept as a keyed hash;
        `card_from`: a confirmation whose card this answer is about (a numbers check made for
        a card visit kept offline), whose keyed hash it takes."""
        created = self._now()
        first = result.results[0] if result.results else None
        cipher = self._database.cipher
        with self._database.write() as db:
            if visit is not None:
                self._insert_visit(visit)
            row_id = int(
                db.execute(
                    "INSERT INTO confirmations (file_id, visit_id, created_at, kind, method,"
                    " source, badge, enc_result, bi_kana, bi_birthdate, bi_numbers, bi_card,"
                    " bi_kana_family, bi_kana_given, bi_insurer, search_indexed, enc_summary,"
                    " packed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,1)",
                    [
                        file_id,
                        visit.id if visit else None,
                        instant_text(created),
                        kind,
                        method,
                        source,
                        badge(result).name,
                        cipher.encrypt(_pack(raw_result), _result_binding(file_id)),
                        self._index("kana", first.name_kana if first else ""),
                        self._index("birthdate", first.birthdate if first else ""),
                        self._index(
                            "numbers",
                            numbers_key(first.insurer_number, first.symbol, first.number)
                            if first
                            else "",
                        ),
                        self._index("card", card) if card else self._card_of(card_from),
                        *self._part_indexes(first),
                        cipher.encrypt(summarize(result), _summary_binding(file_id)),
                    ],
                ).lastrowid
                or 0
            )
            for consent in first.consents if first else ():
                self._consents.insert_consent(row_id, consent)
            self._audit.append(actor, "confirmation.stored", f"confirmation:{row_id}", kind)
        return Confirmation(
            row_id,
            file_id,
            visit.id if visit else None,
            created,
            kind,
            method,
            source,
            badge(result).name,
            result,
        )

    @reserve_on_full
    def save_offline(
        self, *, file_id: str, visit: VisitRecord, card: str, earlier_id: int | None, actor: str
    ) -> Confirmation:
        """A card visit made while the central was unreachable: the card and its holder were
        proven on the box, no answer exists. Stored as a row of its own (source "offline", no
        personal data, nothing as consent) beside the card's last online answer, if any, which
        the desk shows as 前回確認; one transaction with the visit and the audit entry."""
        created = self._now()
        with self._database.write() as db:
            self._insert_visit(visit)
            row_id = int(
                db.execute(
                    "INSERT INTO confirmations (file_id, visit_id, created_at, kind, method,"
                    " source, badge, enc_result, bi_card, earlier_id, search_indexed,"
                    " enc_summary, packed, bi_kana, bi_birthdate, bi_numbers, bi_kana_family,"
                    " bi_kana_given, bi_insurer) VALUES (?,?,?,?,?,?,?,?,?,?,1,?,1,"
                    + _NO_TAGS
                    + ")",
                    [
                        file_id,
                        visit.id,
                        instant_text(created),
                        "card",
                        visit.method,
                        OFFLINE,
                        Verdict.OFFLINE.name,
                        # No answer: the empty text, encrypted like every answer (the key
                        # check reads any row).
                        self._database.cipher.encrypt(b"", _result_binding(file_id)),
                        self._index("card", card),
                        earlier_id,
                        self._database.cipher.encrypt(
                            summarize(_no_answer(file_id)), _summary_binding(file_id)
                        ),
                    ],
                ).lastrowid
                or 0
            )
            self._audit.append(
                actor,
                "confirmation.offline",
                f"confirmation:{row_id}",
                f"earlier=confirmation:{earlier_id}" if earlier_id is not None else "earlier=none",
            )
        return Confirmation(
            row_id,
            file_id,
            visit.id,
            created,
            "card",
            visit.method,
            OFFLINE,
            Verdict.OFFLINE.name,
            _no_answer(file_id),
            earlier_id,
        )

    def _card_of(self, confirmation_id: int | None) -> bytes:
        if confirmation_id is None:
            return self._index("card", "")  # no card: no value
        row = self._db.execute(
            "SELECT bi_card FROM confirmations WHERE id = ?", [confirmation_id]
        ).fetchone()
        return bytes(row[0]) if row and row[0] else b""

    def card_index_of(self, confirmation_id: int) -> bytes:
        """The keyed tag of the card a confirmation is about (b"" when none)."""
        with self._database.lock:
            return self._card_of(confirmation_id)

    def last_card_answer(self, card: str) -> Confirmation | None:
        """The newest online answer to a visit of this card (see `card_identity`), or None."""
        if not card:
            return None
        rows = self._confirmations(
            "WHERE bi_card = ? AND source = 'online' ORDER BY created_at DESC, id DESC LIMIT 1",
            [self._index("card", card)],
        )
        return rows[0] if rows else None

    def _index(self, purpose: str, value: str) -> bytes:
        return self._database.lookup_tag(purpose, value)

    def _part_indexes(self, first: Qualification | None) -> tuple[bytes, bytes, bytes]:
        """Keyed tags of the kana surname, the kana given name and the insurer number."""
        family, given = kana_parts(first.name_kana) if first else ("", "")
        return (
            self._index("kana_family", family),
            self._index("kana_given", given),
            self._index("insurer", insurer_key(first.insurer_number) if first else ""),
        )

    def backfill_search_indexes(self, batch: int = 200) -> int:
        """Index rows stored before migration 18 by surname, given name and insurer (their
        answers decrypted here, once); the number of rows indexed."""
        done = 0
        while True:
            with self._database.lock:
                ids = [
                    int(r[0])
                    for r in self._db.execute(
                        "SELECT id FROM confirmations WHERE search_indexed = 0 LIMIT ?", [batch]
                    ).fetchall()
                ]
            if not ids:
                return done
            marks = ",".join("?" * len(ids))
            rows = self._confirmations(f"WHERE id IN ({marks})", list(ids))
            with self._database.write() as db:
                for row in rows:
                    results = row.result.results
                    db.execute(
                        "UPDATE confirmations SET bi_kana_family = ?, bi_kana_given = ?,"
                        " bi_insurer = ?, search_indexed = 1 WHERE id = ?",
                        [*self._part_indexes(results[0] if results else None), row.id],
                    )
            done += len(rows)

    def _insert_visit(self, visit: VisitRecord) -> None:
        self._db.execute(
            "INSERT INTO visits (id, started_at, ended_at, reader, method, state, reason, file_id,"
            " staff) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                visit.id,
                instant_text(visit.started_at),
                instant_text(visit.ended_at),
                visit.reader,
                visit.method,
                visit.state,
                visit.reason,
                visit.file_id,
                visit.staff,
            ],
        )

    def visit(self, visit_id: str) -> VisitRecord | None:
        return self.visits_by_id([visit_id]).get(visit_id)

    def confirmation(self, confirmation_id: int) -> Confirmation | None:
        rows = self._confirmations("WHERE id = ?", [confirmation_id])
        return rows[0] if rows else None

    def confirmations_by_id(self, ids: Collection[int]) -> dict[int, Confirmation]:
        """Several answers in one read (those gone are missing)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        found = self._confirmations(f"WHERE id IN ({','.join('?' * len(wanted))})", [*wanted])
        return {c.id: c for c in found}

    def visits_by_id(self, visit_ids: Collection[str]) -> dict[str, VisitRecord]:
        """Several visits in one read (those gone are missing)."""
        wanted = sorted(set(visit_ids))
        if not wanted:
            return {}
        with self._database.reading():
            rows = self._db.execute(
                "SELECT id, started_at, ended_at, reader, method, state, reason, file_id, staff"
                f" FROM visits WHERE id IN ({','.join('?' * len(wanted))})",
                wanted,
            ).fetchall()
        return {
            row[0]: VisitRecord(row[0], instant_of(row[1]), instant_of(row[2]), *row[3:])
            for row in rows
        }

    def recent_confirmations(self, since: datetime, limit: int = 200) -> list[Confirmation]:
        return self._confirmations(
            "WHERE created_at >= ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [instant_text(since), limit],
        )

    def confirmations_after(self, after_id: int, limit: int) -> list[Confirmation]:
        """Answers stored after the one with id `after_id`, oldest first (the read API's
        cursor): one writer hands out ids in commit order, so a later row has a larger id."""
        return self._confirmations("WHERE id > ? ORDER BY id LIMIT ?", [after_id, limit])

    def find_by_numbers(
        self, insurer_number: str, symbol: str, number: str, limit: int = 20
    ) -> list[Confirmation]:
        key = self._index("numbers", numbers_key(insurer_number, symbol, number))
        return self._confirmations(
            "WHERE bi_numbers = ? ORDER BY created_at DESC, id DESC LIMIT ?", [key, limit]
        )

    def find_by_kana(self, kana: str, limit: int = 20) -> list[Confirmation]:
        """The whole kana name, or the surname or the given name alone."""
        return self._confirmations(
            "WHERE bi_kana = ? OR bi_kana_family = ? OR bi_kana_given = ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            [
                self._index("kana", kana),
                self._index("kana_family", kana),
                self._index("kana_given", kana),
                limit,
            ],
        )

    def find_by_insurer(self, insurer_number: str, limit: int = 20) -> list[Confirmation]:
        """Everyone insured by this insurer (6 or 8 digits, leading zeros aside)."""
        key = insurer_key(insurer_number)
        if not key:
            return []
        return self._confirmations(
            "WHERE bi_insurer = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [self._index("insurer", key), limit],
        )

    def find_by_birthdate(self, birthdate: str, limit: int = 20) -> list[Confirmation]:
        return self._confirmations(
            "WHERE bi_birthdate = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [self._index("birthdate", birthdate), limit],
        )

    def confirmation_raw(self, confirmation_id: int) -> bytes | None:
        """The answer exactly as central sent it (decrypted), for the admin's raw view."""
        with self._database.lock:
            row = self._db.execute(
                "SELECT file_id, enc_result, packed FROM confirmations WHERE id = ?",
                [confirmation_id],
            ).fetchone()
        if row is None:
            return None
        return _unpack(self._database.cipher.decrypt(row[1], _result_binding(row[0])), row[2])

    def count_confirmations(self) -> int:
        with self._database.lock:
            return int(self._db.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0])

    def count_visits(self, state: str | None = None) -> int:
        with self._database.lock:
            if state is None:
                return int(self._db.execute("SELECT COUNT(*) FROM visits").fetchone()[0])
            row = self._db.execute("SELECT COUNT(*) FROM visits WHERE state = ?", [state])
            return int(row.fetchone()[0])

    def purge_older_than(
        self,
        before: datetime,
        *,
        actor: str,
        max_share: float = 1.0,
        small_run: int = 0,
        batch: int = PURGE_BATCH,
    ) -> tuple[int, int]:
        """Delete confirmations created and visits ended before `before`; (confirmations, visits).

        Consents, cached medical data and queued face files go with their confirmation (ON
        DELETE CASCADE), in the same batch. The guards are decided once, in a short write of
        their own; then rows go `batch` at a time, oldest first, each batch its own short
        transaction found by an indexed range, and every thread waiting for the store's lock
        gets it between two batches (a card save waits for one batch at most, whatever the
        backlog). One audit entry when anything was deleted, written after the last batch and
        counting every batch (and those of a run that was stopped before its entry, see
        `_PROGRESS`); the WAL is checkpointed and truncated afterwards. Stopped between two
        batches (killed, a full disk), a run leaves whole rows deleted or kept, and the next run
        deletes the rest by the same rule. The audit log is kept.

        A clock set far ahead makes every row look old, so a run deletes nothing and raises
        RetentionRefused when it would delete more than `max_share` of a table (runs of at most
        `small_run` rows aside) or any row newer than the newest row the previous run saw. Every
        run that gets this far records the newest row it saw (retention_state), refused or not.
        """
        bound = instant_text(before)  # ValueError for a naive time
        shown = before.astimezone(UTC).isoformat()  # as the audit entry has always said it
        with self._database.lock:
            if self._db.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
                raise RuntimeError("foreign keys are off: consents would outlive their rows")
            watermark = self._state("newest_seen")
        # Counted a chunk of the index at a time, outside any transaction: a year of rows is a
        # million index entries, too many to count while a card save waits.
        refused, aged = self._purge_refusal(bound, shown, watermark, max_share, small_run)
        with self._database.write():
            newest = self._newest_row(self._state("newest_seen"))
            if newest:
                self._set_state("newest_seen", newest)
        if refused is not None:
            raise refused
        deleted = {table: 0 for table, _ in _AGED_BY}
        for table, column in _AGED_BY:
            delete = f"DELETE FROM {table} WHERE rowid IN ({oldest_rows_sql(table, column)})"
            while deleted[table] < aged[table]:
                with self._database.write() as db:
                    went = int(db.execute(delete, [bound, batch]).rowcount)
                    if went:
                        self._count_progress(table, went)
                deleted[table] += went
                self._database.between_batches()
                if went < batch:
                    break
        with self._database.write() as db:
            done = take_progress(db, _PROGRESS)
            if done:
                self._audit.append(
                    actor,
                    "retention.purged",
                    "confirmations",
                    f"confirmations={done.get('confirmations', 0)}"
                    f" visits={done.get('visits', 0)} before={shown}",
                )
        if any(deleted.values()):
            self._database.checkpoint()
        return deleted["confirmations"], deleted["visits"]

    def _state(self, name: str) -> str:
        row = self._db.execute(
            "SELECT value FROM retention_state WHERE name = ?", [name]
        ).fetchone()
        return str(row[0]) if row else ""

    def _set_state(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO retention_state (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            [name, value],
        )

    def _count_progress(self, table: str, deleted: int) -> None:
        """Inside a batch's transaction: what went so far, until the run's audit entry says it
        (so a run stopped between two batches leaves its count to the next run's entry)."""
        add_progress(self._db, _PROGRESS, {table: deleted})

    def _purge_refusal(
        self, bound: str, shown: str, watermark: str, max_share: float, small_run: int
    ) -> tuple[RetentionRefused | None, dict[str, int]]:
        """The guards' decision, and the rows each table has before the bound. A table's size
        is counted only as far as the share rule needs it (exactly when it refuses)."""
        aged: dict[str, int] = {}
        newer = 0
        for table, column in _AGED_BY:
            aged[table] = self._count(table, column, "", bound)
            if watermark and watermark < bound:
                newer += self._count(table, column, watermark, bound)
        rule = ""
        if newer:
            rule = "newer_than_seen"
        else:
            for table, column in _AGED_BY:
                old = aged[table]
                if old <= small_run:
                    continue
                # A table of more than old / max_share rows passes: counted no further.
                enough = math.floor(old / max_share) + 1
                total = self._count(table, column, "", "", enough)
                if total < enough and old > max_share * total:
                    rule = "share"
        if not rule:
            return None, aged
        c_total, v_total = (self._count(table, column, "", "") for table, column in _AGED_BY)
        return RetentionRefused(
            rule=rule,
            before=shown,
            newest_seen=watermark,
            confirmations=aged["confirmations"],
            confirmations_total=c_total,
            visits=aged["visits"],
            visits_total=v_total,
            newer=newer,
        ), aged

    def _count(self, table: str, column: str, after: str, before: str, cap: int = 0) -> int:
        """Rows whose instant `column` is after `after` and before `before` ('' for no limit),
        counted through the column's index _COUNT_CHUNK entries at a time, each chunk in its
        own short hold of the lock; stops at `cap` when one is given."""
        counted = 0
        lower = ">" if after else ">="  # every instant text is >= ''
        upper, high = (f" AND {column} < ?", [before]) if before else ("", [])
        while not cap or counted < cap:
            with self._database.lock:
                row = self._db.execute(
                    f"SELECT {column} FROM {table} WHERE {column} {lower} ?{upper}"
                    f" ORDER BY {column} LIMIT 1 OFFSET ?",
                    [after, *high, _COUNT_CHUNK],
                ).fetchone()
                if row is None:
                    (rest,) = self._db.execute(
                        f"SELECT COUNT(*) FROM {table} WHERE {column} {lower} ?{upper}",
                        [after, *high],
                    ).fetchone()
                    counted += int(rest)
                    break
                (chunk,) = self._db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE {column} {lower} ? AND {column} <= ?",
                    [after, row[0]],
                ).fetchone()
            counted += int(chunk)
            after, lower = str(row[0]), ">"  # every row at that instant is counted
        return min(counted, cap) if cap else counted

    def _newest_row(self, watermark: str) -> str:
        """The newest time of any confirmation or visit, or of the watermark, as instant text."""
        candidates = [watermark] if watermark else []
        for table, column in _AGED_BY:
            row = self._db.execute(f"SELECT MAX({column}) FROM {table}").fetchone()
            if row is not None and row[0] is not None:
                candidates.append(str(row[0]))
        return instant_text(max(instant_of(c) for c in candidates)) if candidates else ""

    def _confirmations(self, where: str, params: list[Any]) -> list[Confirmation]:
        """Rows as Confirmations: their summaries decrypted (no XML parsed); the whole answer
        is read and parsed when a caller asks for `result`."""
        with self._database.reading():
            rows = self._db.execute(
                "SELECT id, file_id, visit_id, created_at, kind, method, source, badge,"
                f" enc_summary, earlier_id FROM confirmations {where}",
                params,
            ).fetchall()
        cipher = self._database.cipher
        found = []
        for row in rows:
            row_id, file_id, method = int(row[0]), str(row[1]), str(row[5])
            if row[8] is not None:
                summary = self._summary_of(cipher.decrypt(row[8], _summary_binding(file_id)))
                load: Callable[[], QualificationResult] | None = self._loader(
                    row_id, file_id, method, summary
                )
            else:  # stored before summaries and not yet given one: parsed now, whole
                summary = self._parsed(row_id, file_id, method) or _no_answer(file_id)
                load = None
            found.append(
                Confirmation(
                    row_id,
                    file_id,
                    row[2],
                    instant_of(row[3]),
                    row[4],
                    method,
                    row[6],
                    row[7],
                    summary,
                    row[9],
                    load,
                )
            )
        return found

    def _loader(
        self, row_id: int, file_id: str, method: str, summary: QualificationResult
    ) -> Callable[[], QualificationResult]:
        def load() -> QualificationResult:
            # A row purged meanwhile: what it showed is all there is.
            return self._parsed(row_id, file_id, method) or summary

        return load

    def _parsed(self, row_id: int, file_id: str, method: str) -> QualificationResult | None:
        """The row's whole answer, decrypted and parsed (None when the row is gone)."""
        with self._database.lock:
            row = self._db.execute(
                "SELECT enc_result, packed FROM confirmations WHERE id = ?", [row_id]
            ).fetchone()
        if row is None:
            return None
        raw = _unpack(self._database.cipher.decrypt(row[0], _result_binding(file_id)), row[1])
        # a face file's answer may lack its ArbitraryFileIdentifier (DOMAIN §8)
        return parse_result(raw, face=method == "face") if raw else _no_answer(file_id)

    def backfill_summaries(self, limit: int | None = None, batch: int = 200) -> int:
        """Give rows stored before summaries theirs, newest first (each answer decrypted and
        parsed here, once, in batches of short writes), and keep their answers packed; at
        most `limit` rows (None: all); the number done. Until then such a row is read by
        parsing its answer, as before."""
        done = 0
        cipher = self._database.cipher
        while limit is None or done < limit:
            size = batch if limit is None else min(batch, limit - done)
            with self._database.lock:
                rows = self._db.execute(
                    "SELECT id, file_id, method, enc_result, packed FROM confirmations"
                    " WHERE enc_summary IS NULL ORDER BY id DESC LIMIT ?",
                    [size],
                ).fetchall()
            if not rows:
                return done
            updates = []
            for row_id, file_id, method, enc, packed in rows:
                raw = _unpack(cipher.decrypt(enc, _result_binding(file_id)), packed)
                result = parse_result(raw, face=method == "face") if raw else _no_answer(file_id)
                updates.append(
                    [
                        cipher.encrypt(_pack(raw), _result_binding(file_id)),
                        cipher.encrypt(summarize(result), _summary_binding(file_id)),
                        row_id,
                    ]
                )
            with self._database.write() as db:
                for values in updates:
                    db.execute(
                        "UPDATE confirmations SET enc_result = ?, packed = 1, enc_summary = ?"
                        " WHERE id = ? AND enc_summary IS NULL",
                        values,
                    )
            done += len(rows)
        return done


def card_identity(issuer: bytes, serial_number: int) -> str:
    """What identifies a card across visits: its certificate's issuer (DER) and serial number
    (DOMAIN §5: the holder is identified by issuer + serial). Stored only as a keyed hash."""
    return f"{issuer.hex()}|{serial_number:x}"


def _no_answer(file_id: str) -> QualificationResult:
    """The result of a row that has no answer (an offline visit): nothing in it."""
    return QualificationResult(
        process_time="",
        confirmation_date="",
        medical_institution_code="",
        file_id=file_id,
        reference_classification="1",
        segment_of_result="",
    )


def _result_binding(file_id: str) -> str:
    return f"confirmations.enc_result:{file_id}"


def _summary_binding(file_id: str) -> str:
    return f"confirmations.enc_summary:{file_id}"


def _pack(raw: bytes) -> bytes:
    """An answer as kept (then encrypted): deflated with the answers' dictionary (`packed`
    1), a sixth of its size or so."""
    return pack(raw)


def _unpack(stored: bytes, packed: int) -> bytes:
    """The answer exactly as received, from what `_pack` kept (`packed` 1) or a row stored
    before answers were packed (0)."""
    return unpack(stored) if packed else stored


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """A stored answer and its binding, for the key check."""
    row = db.execute("SELECT file_id, enc_result FROM confirmations LIMIT 1").fetchone()
    return None if row is None else (bytes(row[1]), _result_binding(str(row[0])))
