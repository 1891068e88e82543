"""Visits and the answers (confirmations) they ended with, and their retention purge.

Personal data lives only inside the encrypted raw answer (AES-GCM bound to its row); searching
uses keyed hashes (blind indexes) of kana, birth date and insurance numbers.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from sync.codes import Verdict, badge
from sync.store.auditlog import AuditLog
from sync.store.consents import Consents
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text
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
    """One stored answer, decrypted in memory for display."""

    id: int
    file_id: str
    visit_id: str | None
    created_at: datetime
    kind: str
    method: str
    source: str
    badge: str
    result: QualificationResult
    # A visit stored offline (source "offline") has no answer of its own (`result` is empty):
    # this is the card's last online answer shown beside it as 前回確認, if there was one.
    earlier_id: int | None = None

    @property
    def offline(self) -> bool:
        return self.source == OFFLINE


# `Confirmation.source` of a card visit made while the central was unreachable.
OFFLINE = "offline"


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


# The instant column of each table the retention purge ages rows by.
_AGED_BY = (("confirmations", "created_at"), ("visits", "ended_at"))


class Visits(Part):
    def __init__(self, database: Database, *, audit: AuditLog, consents: Consents) -> None:
        super().__init__(database)
        self._audit = audit
        self._consents = consents

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
                    " bi_kana_family, bi_kana_given, bi_insurer, search_indexed)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)",
                    [
                        file_id,
                        visit.id if visit else None,
                        instant_text(created),
                        kind,
                        method,
                        source,
                        badge(result).name,
                        cipher.encrypt(raw_result, _result_binding(file_id)),
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
                    " source, badge, enc_result, bi_card, earlier_id, search_indexed)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,1)",
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

    def _card_of(self, confirmation_id: int | None) -> str:
        if confirmation_id is None:
            return ""
        row = self._db.execute(
            "SELECT bi_card FROM confirmations WHERE id = ?", [confirmation_id]
        ).fetchone()
        return str(row[0]) if row else ""

    def card_index_of(self, confirmation_id: int) -> str:
        """The keyed hash of the card a confirmation is about ("" when none)."""
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

    def _index(self, purpose: str, value: str) -> str:
        return self._database.cipher.blind_index(purpose, value) if value else ""

    def _part_indexes(self, first: Qualification | None) -> tuple[str, str, str]:
        """Keyed hashes of the kana surname, the kana given name and the insurer number."""
        if first is None:
            return "", "", ""
        family, given = kana_parts(first.name_kana)
        return (
            self._index("kana_family", family),
            self._index("kana_given", given),
            self._index("insurer", insurer_key(first.insurer_number)),
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
        with self._database.reading():
            row = self._db.execute(
                "SELECT id, started_at, ended_at, reader, method, state, reason, file_id, staff"
                " FROM visits WHERE id = ?",
                [visit_id],
            ).fetchone()
        if row is None:
            return None
        return VisitRecord(row[0], instant_of(row[1]), instant_of(row[2]), *row[3:])

    def confirmation(self, confirmation_id: int) -> Confirmation | None:
        rows = self._confirmations("WHERE id = ?", [confirmation_id])
        return rows[0] if rows else None

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
                "SELECT file_id, enc_result FROM confirmations WHERE id = ?", [confirmation_id]
            ).fetchone()
        if row is None:
            return None
        return self._database.cipher.decrypt(row[1], _result_binding(row[0]))

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
    ) -> tuple[int, int]:
        """Delete confirmations created and visits ended before `before`; (confirmations, visits).

        Consents and cached medical data go with their confirmation (ON DELETE CASCADE). One
        transaction with one audit entry when anything was deleted; the audit log is kept.

        A clock set far ahead makes every row look old, so a run deletes nothing and raises
        RetentionRefused when it would delete more than `max_share` of a table (runs of at most
        `small_run` rows aside) or any row newer than the newest row the previous run saw. Every
        run that gets this far records the newest row it saw (retention_state), refused or not.
        """
        bound = instant_text(before)  # ValueError for a naive time
        shown = before.astimezone(UTC).isoformat()  # as the audit entry has always said it
        refused: RetentionRefused | None = None
        confirmations = visits = 0
        with self._database.write() as db:
            if db.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
                raise RuntimeError("foreign keys are off: consents would outlive their rows")
            row = db.execute(
                "SELECT value FROM retention_state WHERE name = 'newest_seen'"
            ).fetchone()
            watermark = str(row[0]) if row else ""
            refused = self._purge_refusal(bound, shown, watermark, max_share, small_run)
            if refused is None:
                confirmations = int(
                    db.execute("DELETE FROM confirmations WHERE created_at < ?", [bound]).rowcount
                )
                visits = int(db.execute("DELETE FROM visits WHERE ended_at < ?", [bound]).rowcount)
                if confirmations or visits:
                    self._audit.append(
                        actor,
                        "retention.purged",
                        "confirmations",
                        f"confirmations={confirmations} visits={visits} before={shown}",
                    )
            newest = self._newest_row(watermark)
            if newest:
                db.execute(
                    "INSERT INTO retention_state (name, value) VALUES ('newest_seen', ?)"
                    " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    [newest],
                )
        if refused is not None:
            raise refused
        return confirmations, visits

    def _purge_refusal(
        self, bound: str, shown: str, watermark: str, max_share: float, small_run: int
    ) -> RetentionRefused | None:
        counts: dict[str, tuple[int, int, int]] = {}
        for table, column in _AGED_BY:
            old, total, newer = self._db.execute(
                f"SELECT COALESCE(SUM({column} < ?), 0), COUNT(*),"
                f" COALESCE(SUM({column} < ? AND {column} > ?), 0) FROM {table}",
                [bound, bound, watermark or bound],
            ).fetchone()
            counts[table] = (int(old), int(total), int(newer) if watermark else 0)
        (c_old, c_total, c_newer), (v_old, v_total, v_newer) = counts.values()
        rule = ""
        if c_newer or v_newer:
            rule = "newer_than_seen"
        elif any(old > small_run and old > max_share * total for old, total, _ in counts.values()):
            rule = "share"
        if not rule:
            return None
        return RetentionRefused(
            rule=rule,
            before=shown,
            newest_seen=watermark,
            confirmations=c_old,
            confirmations_total=c_total,
            visits=v_old,
            visits_total=v_total,
            newer=c_newer + v_newer,
        )

    def _newest_row(self, watermark: str) -> str:
        """The newest time of any confirmation or visit, or of the watermark, as instant text."""
        candidates = [watermark] if watermark else []
        for table, column in _AGED_BY:
            row = self._db.execute(
                f"SELECT {column} FROM {table} ORDER BY {column} DESC LIMIT 1"
            ).fetchone()
            if row is not None:
                candidates.append(str(row[0]))
        return instant_text(max(instant_of(c) for c in candidates)) if candidates else ""

    def _confirmations(self, where: str, params: list[Any]) -> list[Confirmation]:
        with self._database.reading():
            rows = self._db.execute(
                "SELECT id, file_id, visit_id, created_at, kind, method, source, badge,"
                f" enc_result, earlier_id FROM confirmations {where}",
                params,
            ).fetchall()
        cipher = self._database.cipher
        found = []
        for row in rows:
            raw = cipher.decrypt(row[8], _result_binding(row[1]))
            found.append(
                Confirmation(
                    row[0],
                    row[1],
                    row[2],
                    instant_of(row[3]),
                    row[4],
                    row[5],
                    row[6],
                    row[7],
                    # a face file's answer may lack its ArbitraryFileIdentifier (DOMAIN §8)
                    parse_result(raw, face=row[5] == "face") if raw else _no_answer(row[1]),
                    row[9],
                )
            )
        return found


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


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """A stored answer and its binding, for the key check."""
    row = db.execute("SELECT file_id, enc_result FROM confirmations LIMIT 1").fetchone()
    return None if row is None else (bytes(row[1]), _result_binding(str(row[0])))
