"""Appointments imported from the receipt computer's list, and what the night-before pre-check
(一括照会) found for each.

The personal fields (patient number, kana, birth date, insurance numbers) are one encrypted JSON
document bound to the row's random reference, like a statement; lookups go by keyed hashes of
the patient number, the insurance numbers (visits.numbers_key) and the birth date. The day of
an appointment (YYYYMMDD in Japan) and its instant are plain: the list is read by day.

Importing the same list again changes nothing twice: an appointment is the same one when its
day, patient number and time are (its other fields are then updated, and a pre-check made for
other numbers is dropped). Each import and each pre-check is written with its audit entry in
one transaction.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from sync.clock import JST
from sync.store.auditlog import AuditLog
from sync.store.database import Database, Part, reserve_on_full
from sync.store.instant import instant_of, instant_text
from sync.store.visits import numbers_key

PERSON_FIELDS = (
    "patient_number",
    "kana",
    "birthdate",
    "insurer_number",
    "symbol",
    "number",
    "branch",
)


@dataclass(frozen=True)
class AppointmentInput:
    """One checked row of the list (sync/appointments.py parses and checks it)."""

    patient_number: str  # the clinic's patient number (照会番号 when registered), ASCII ≤ 50
    kana: str
    birthdate: str  # YYYYMMDD
    insurer_number: str
    symbol: str
    number: str
    branch: str
    at: datetime  # aware; the appointment's date and time


@dataclass(frozen=True)
class AppointmentRow:
    id: int
    day: str  # YYYYMMDD in the clinic's time zone (JST)
    at: datetime
    patient_number: str
    kana: str
    birthdate: str
    insurer_number: str
    symbol: str
    number: str
    branch: str
    precheck_class: str  # "" until pre-checked, else a sync.precheck.PrecheckClass value
    prechecked_at: datetime | None


@dataclass(frozen=True)
class Arrival:
    """A patient who arrived, as their answer names them: the key of `prechecks_for_arrivals`
    (the same as `appointment_for_arrival`'s arguments)."""

    insurer_number: str
    symbol: str
    number: str
    birthdate: str
    day: str  # YYYYMMDD in Japan
    reference_number: str = ""


@dataclass(frozen=True)
class ArrivalPrecheck:
    """The appointment an arrival matched and its pre-check class ("" until pre-checked);
    nothing personal is decrypted to find it."""

    appointment_id: int
    precheck_class: str


def day_of(at: datetime) -> str:
    """The appointment's day in the clinic's time zone, YYYYMMDD."""
    if at.tzinfo is None:
        raise ValueError("aware datetime required")
    return at.astimezone(JST).strftime("%Y%m%d")


def _person_binding(ref: str) -> str:
    return f"appointments.enc_person:{ref}"


def _precheck_binding(ref: str) -> str:
    return f"appointments.enc_precheck:{ref}"


_COLUMNS = "id, ref, day, at, enc_person, precheck_class, prechecked_at"


class Appointments(Part):
    def __init__(self, database: Database, *, audit: AuditLog) -> None:
        super().__init__(database)
        self._audit = audit

    def _index(self, purpose: str, value: str) -> bytes:
        return self._database.lookup_tag(purpose, value)

    @reserve_on_full
    def import_appointments(
        self, rows: Sequence[AppointmentInput], *, actor: str, source: str
    ) -> int:
        """Store the rows (new ones added, known ones updated) with one audit entry, in one
        transaction; the number of rows taken."""
        now = instant_text(self._now())
        cipher = self._database.cipher
        added = updated = 0
        days: set[str] = set()
        with self._database.write() as db:
            for row in rows:
                day = day_of(row.at)
                days.add(day)
                at = instant_text(row.at)
                patient = self._index("patient_number", row.patient_number)
                numbers = self._index(
                    "numbers", numbers_key(row.insurer_number, row.symbol, row.number)
                )
                birthdate = self._index("birthdate", row.birthdate)
                body = json.dumps(
                    {name: getattr(row, name) for name in PERSON_FIELDS},
                    ensure_ascii=False,
                    sort_keys=True,
                ).encode()
                found = db.execute(
                    "SELECT id, ref, bi_numbers, bi_birthdate FROM appointments"
                    " WHERE day = ? AND bi_patient = ? AND at = ?",
                    [day, patient, at],
                ).fetchone()
                if found is None:
                    ref = secrets.token_hex(10)
                    db.execute(
                        "INSERT INTO appointments (ref, day, at, bi_patient, bi_numbers,"
                        " bi_birthdate, enc_person, imported_at, imported_by, source)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [
                            ref,
                            day,
                            at,
                            patient,
                            numbers,
                            birthdate,
                            cipher.encrypt(body, _person_binding(ref)),
                            now,
                            actor,
                            source,
                        ],
                    )
                    added += 1
                    continue
                ref = str(found[1])
                same_person = found[2] == numbers and found[3] == birthdate
                db.execute(
                    "UPDATE appointments SET enc_person = ?, bi_numbers = ?, bi_birthdate = ?,"
                    " imported_at = ?, imported_by = ?, source = ?"
                    + (
                        ""
                        if same_person
                        else ", precheck_class = '', prechecked_at = '', enc_precheck = NULL"
                    )
                    + " WHERE id = ?",
                    [
                        cipher.encrypt(body, _person_binding(ref)),
                        numbers,
                        birthdate,
                        now,
                        actor,
                        source,
                        int(found[0]),
                    ],
                )
                updated += 1
            self._audit.append(
                actor,
                "appointments.imported",
                "appointments:" + ",".join(sorted(days)),
                f"source={source} rows={len(rows)} added={added} updated={updated}",
            )
        return len(rows)

    def appointments_on(self, day: str) -> list[AppointmentRow]:
        return self._rows("WHERE day = ? ORDER BY at, id", [day])

    def appointment(self, appointment_id: int) -> AppointmentRow | None:
        rows = self._rows("WHERE id = ?", [appointment_id])
        return rows[0] if rows else None

    def appointment_for_arrival(
        self,
        insurer_number: str,
        symbol: str,
        number: str,
        birthdate: str,
        day: str,
        reference_number: str = "",
    ) -> AppointmentRow | None:
        """The day's appointment of a patient who arrived: by the answer's 照会番号 (the
        clinic's patient number) when it carries one, else by insurance numbers and birth
        date; the earliest of the day when several match."""
        if reference_number:
            rows = self._rows(
                "WHERE day = ? AND bi_patient = ? ORDER BY at, id LIMIT 1",
                [day, self._index("patient_number", reference_number)],
            )
            if rows:
                return rows[0]
        if not number or not birthdate:
            return None
        rows = self._rows(
            "WHERE day = ? AND bi_numbers = ? AND bi_birthdate = ? ORDER BY at, id LIMIT 1",
            [
                day,
                self._index("numbers", numbers_key(insurer_number, symbol, number)),
                self._index("birthdate", birthdate),
            ],
        )
        return rows[0] if rows else None

    def prechecks_for_arrivals(self, arrivals: Sequence[Arrival]) -> list[ArrivalPrecheck | None]:
        """`appointment_for_arrival` for many arrivals in one query (a desk page's rows), in
        their order: by 照会番号 first, else by insurance numbers and birth date, the earliest
        of the day. Keyed hashes are computed only for the days that have appointments."""
        days = sorted({a.day for a in arrivals})
        if not days:
            return []
        marks = ",".join("?" * len(days))
        with self._database.reading():
            booked = {
                str(r[0])
                for r in self._db.execute(
                    f"SELECT DISTINCT day FROM appointments WHERE day IN ({marks})", days
                ).fetchall()
            }
        if not booked:
            return [None] * len(arrivals)
        index = functools.cache(self._index)
        keys = [
            (
                index("patient_number", a.reference_number),
                index("numbers", numbers_key(a.insurer_number, a.symbol, a.number))
                if a.number and a.birthdate
                else b"",
                index("birthdate", a.birthdate) if a.number and a.birthdate else b"",
            )
            if a.day in booked
            else (b"", b"", b"")
            for a in arrivals
        ]
        patients = sorted({k[0] for k in keys if k[0]})
        numbers = sorted({k[1] for k in keys if k[1]})
        with self._database.reading():
            rows = self._db.execute(
                "SELECT id, day, bi_patient, bi_numbers, bi_birthdate, precheck_class"
                f" FROM appointments WHERE day IN ({','.join('?' * len(booked))})"
                f" AND (bi_patient IN ({','.join('?' * len(patients))})"
                f" OR bi_numbers IN ({','.join('?' * len(numbers))})) ORDER BY at, id",
                [*sorted(booked), *patients, *numbers],
            ).fetchall()
        by_patient: dict[tuple[str, bytes], ArrivalPrecheck] = {}
        by_numbers: dict[tuple[str, bytes, bytes], ArrivalPrecheck] = {}
        for row_id, day, patient, numbers_index, birthdate, klass in rows:
            found = ArrivalPrecheck(int(row_id), str(klass))
            by_patient.setdefault((day, patient), found)  # the earliest of the day
            by_numbers.setdefault((day, numbers_index, birthdate), found)
        matched: list[ArrivalPrecheck | None] = []
        for a, (patient, numbers_index, birthdate) in zip(arrivals, keys, strict=True):
            found_by_patient = by_patient.get((a.day, patient)) if patient else None
            if found_by_patient is not None:
                matched.append(found_by_patient)
            elif numbers_index:
                matched.append(by_numbers.get((a.day, numbers_index, birthdate)))
            else:
                matched.append(None)
        return matched

    @reserve_on_full
    def record_precheck(
        self, appointment_id: int, *, klass: str, raw: bytes, checked_at: datetime, actor: str
    ) -> None:
        """The pre-check's class and the unit's answer (encrypted), with its audit entry."""
        with self._database.write() as db:
            found = db.execute(
                "SELECT ref FROM appointments WHERE id = ?", [appointment_id]
            ).fetchone()
            if found is None:
                return
            db.execute(
                "UPDATE appointments SET precheck_class = ?, prechecked_at = ?, enc_precheck = ?"
                " WHERE id = ?",
                [
                    klass,
                    instant_text(checked_at),
                    self._database.cipher.encrypt(raw, _precheck_binding(str(found[0]))),
                    appointment_id,
                ],
            )
            self._audit.append(
                actor, "appointment.prechecked", f"appointment:{appointment_id}", klass
            )

    def precheck_raw(self, appointment_id: int) -> bytes | None:
        with self._database.lock:
            found = self._db.execute(
                "SELECT ref, enc_precheck FROM appointments WHERE id = ?", [appointment_id]
            ).fetchone()
        if found is None or found[1] is None:
            return None
        return self._database.cipher.decrypt(bytes(found[1]), _precheck_binding(str(found[0])))

    def _rows(self, where: str, params: list[object]) -> list[AppointmentRow]:
        with self._database.reading():
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM appointments {where}", params
            ).fetchall()
        found = []
        for row in rows:
            person = json.loads(
                self._database.cipher.decrypt(bytes(row[4]), _person_binding(str(row[1])))
            )
            found.append(
                AppointmentRow(
                    id=int(row[0]),
                    day=str(row[2]),
                    at=instant_of(str(row[3])).astimezone(JST),
                    precheck_class=str(row[5]),
                    prechecked_at=instant_of(str(row[6])) if row[6] else None,
                    **{name: str(person.get(name, "")) for name in PERSON_FIELDS},
                )
            )
        return found

    # -- retention (sync/store/retention.py runs these inside its one transaction) --------
    def aged(self, bound: str) -> tuple[int, int]:
        """(appointments before `bound`, all appointments): what a purge would delete."""
        with self._database.lock:
            old, total = self._db.execute(
                "SELECT COALESCE(SUM(at < ?), 0), COUNT(*) FROM appointments", [bound]
            ).fetchone()
        return int(old), int(total)

    def purge_before(self, bound: str) -> int:
        with self._database.write() as db:
            return int(db.execute("DELETE FROM appointments WHERE at < ?", [bound]).rowcount)


def encrypted_sample(db: sqlite_utils.Database) -> tuple[bytes, str] | None:
    """One ciphertext and its binding, for the key check at start."""
    if not db["appointments"].exists():
        return None
    row = db.execute("SELECT ref, enc_person FROM appointments LIMIT 1").fetchone()
    return (bytes(row[1]), _person_binding(str(row[0]))) if row else None
