"""The appointments list as a receipt computer exports it (CSV), read and checked as a whole.

Bytes in Shift_JIS (cp932) or UTF-8 (with or without BOM). The first row names the columns,
in Japanese or English, in any order (COLUMN_NAMES; spaces, case, `_`/`-` and full width do
not matter). The appointment is one column (予約日時: "2026-12-01 09:30", "20261201 0930",
"2026/12/01 9:30") or a date and a time column (予約日 + 予約時刻; without a time column the
appointment is at 00:00 of its day). Dates are YYYYMMDD, YYYY-MM-DD or YYYY/MM/DD; a birth date
may also be 和暦 (S50.4.1, 昭和50年4月1日), as typed at the desk.

Every row is checked (the insurer number's check digit, the birth date, the branch as at the
desk: sync/identifiers.py) and every problem of every row is reported with its line, in one
AppointmentsRejected; a list with any bad row gives nothing, so nothing is imported half. The
words are web/'s: the error holds meanings (AppointmentProblem, IdentifierError) only.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from sync.clock import JST
from sync.identifiers import (
    IdentifierError,
    normalize_digits,
    validate_birthdate,
    validate_branch,
    validate_insurer_number,
)
from sync.store.appointments import AppointmentInput

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_PATIENT_NUMBER = 50
MAX_KANA = 100
MAX_NUMBERS = 20  # 記号 and 番号: far beyond any card's
EARLIEST_YEAR, LATEST_YEAR = 2000, 2099  # an appointment outside is a typo

# Column key → the header names accepted for it (compared after `_header_key`).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "patient_number": ("患者番号", "患者id", "カルテ番号", "patient_number", "patient_id"),
    "kana": ("カナ氏名", "氏名カナ", "カナ", "フリガナ", "kana", "name_kana"),
    "birthdate": ("生年月日", "birthdate", "birth_date", "date_of_birth"),
    "insurer_number": ("保険者番号", "insurer_number", "insurer"),
    "symbol": ("記号", "被保険者証記号", "symbol"),
    "number": ("番号", "被保険者証番号", "number"),
    "branch": ("枝番", "branch", "branch_number"),
    "appointment": ("予約日時", "appointment", "appointment_at", "appointment_datetime"),
    "appointment_date": ("予約日", "appointment_date", "date"),
    "appointment_time": ("予約時刻", "予約時間", "appointment_time", "time"),
}
REQUIRED = ("patient_number", "kana", "birthdate", "insurer_number", "number")


class AppointmentProblem(StrEnum):
    """What is wrong with the file (line 0) or one field of one row."""

    # the file
    TOO_LARGE = "too_large"  # more than MAX_BYTES
    TOO_MANY_ROWS = "too_many_rows"  # more than MAX_ROWS appointments
    ENCODING = "encoding"  # neither UTF-8 nor Shift_JIS
    NOT_CSV = "not_csv"  # the CSV reader refused it
    EMPTY = "empty"  # no header, or no row under it
    MISSING_COLUMN = "missing_column"  # `field`: a column the header lacks
    # a row
    COLUMNS = "columns"  # more cells than the header names
    MISSING = "missing"  # `field` empty
    TOO_LONG = "too_long"  # `field` longer than its limit
    PATIENT_NUMBER = "patient_number"  # not ASCII letters, digits, '-' or '_'
    KANA = "kana"  # not katakana
    IDENTIFIER = "identifier"  # `identifier` says how (insurer number, birth date, branch)
    APPOINTMENT = "appointment"  # `field` not a date / time in an accepted form
    DUPLICATE = "duplicate"  # the same patient at the same time as line `other_line`


@dataclass(frozen=True)
class RowProblem:
    line: int  # 1 = the header; 0 for the whole file
    field: str  # a COLUMN_NAMES key, or "" for the row / file
    problem: AppointmentProblem
    identifier: IdentifierError | None = None
    limit: int = 0  # for TOO_LARGE / TOO_MANY_ROWS / TOO_LONG
    other_line: int = 0  # for DUPLICATE


@dataclass
class AppointmentsRejected(ValueError):
    """Nothing was taken: every problem found, in line order."""

    problems: list[RowProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(f"{len(self.problems)} problem(s) in the appointments list")

    @property
    def lines(self) -> list[int]:
        return sorted({p.line for p in self.problems})


_NOT_TEXT = re.compile("[\x00\x80\uf8f0-\uf8f3]")


def decode(data: bytes) -> str:
    """UTF-8 (BOM or not) when it is, else Shift_JIS (cp932); AppointmentsRejected otherwise."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "cp932"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # cp932 takes almost any bytes: NUL (UTF-16, a binary file) and the bytes Shift_JIS
        # leaves unused (0x80, 0xA0, 0xFD-0xFF, decoded to U+0080 / U+F8F0-F8F3) say it is not.
        if _NOT_TEXT.search(text) is None:
            return text
        break
    raise AppointmentsRejected([RowProblem(0, "", AppointmentProblem.ENCODING)])


def _header_key(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).strip().lower()
    return re.sub(r"[\s_\-・]", "", text)


_BY_HEADER = {_header_key(n): key for key, names in COLUMN_NAMES.items() for n in names}


def parse_appointments(data: bytes, *, today: date) -> list[AppointmentInput]:
    """The checked rows of a list, or AppointmentsRejected with every problem. `today` (the
    injected clock's day in Japan) bounds the birth dates."""
    if len(data) > MAX_BYTES:
        raise AppointmentsRejected(
            [RowProblem(0, "", AppointmentProblem.TOO_LARGE, limit=MAX_BYTES)]
        )
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records: list[tuple[int, list[str]]] = []
        line = 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((line, cells))
            line = reader.line_num + 1
            if len(records) > MAX_ROWS + 1:
                raise AppointmentsRejected(
                    [RowProblem(0, "", AppointmentProblem.TOO_MANY_ROWS, limit=MAX_ROWS)]
                )
    except csv.Error:
        raise AppointmentsRejected(
            [RowProblem(reader.line_num, "", AppointmentProblem.NOT_CSV)]
        ) from None
    if len(records) < 2:
        raise AppointmentsRejected([RowProblem(0, "", AppointmentProblem.EMPTY)])
    header_line, header = records[0]
    columns = _columns(header_line, header)
    problems: list[RowProblem] = []
    taken: list[AppointmentInput] = []
    seen: dict[tuple[str, datetime], int] = {}
    for line, cells in records[1:]:
        row, found = _row(line, cells, columns, len(header), today)
        problems.extend(found)
        if row is None:
            continue
        key = (row.patient_number, row.at)
        if key in seen:
            problems.append(
                RowProblem(line, "", AppointmentProblem.DUPLICATE, other_line=seen[key])
            )
            continue
        seen[key] = line
        taken.append(row)
    if problems:
        raise AppointmentsRejected(problems)
    return taken


def _columns(line: int, header: list[str]) -> dict[str, int]:
    """Column key → its index in a row; MISSING_COLUMN for each required one the header lacks
    (a column it does not know is left alone: exports carry more than these)."""
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _BY_HEADER.get(_header_key(name))
        if key is not None and key not in columns:
            columns[key] = index
    missing = [key for key in REQUIRED if key not in columns]
    if "appointment" not in columns and "appointment_date" not in columns:
        missing.append("appointment")
    if missing:
        raise AppointmentsRejected(
            [RowProblem(line, key, AppointmentProblem.MISSING_COLUMN) for key in missing]
        )
    return columns


def _row(
    line: int, cells: list[str], columns: dict[str, int], width: int, today: date
) -> tuple[AppointmentInput | None, list[RowProblem]]:
    problems: list[RowProblem] = []
    if any(extra.strip() for extra in cells[width:]):  # values beyond the named columns
        return None, [RowProblem(line, "", AppointmentProblem.COLUMNS)]

    def cell(key: str) -> str:
        index = columns.get(key)
        if index is None or index >= len(cells):
            return ""
        return unicodedata.normalize("NFKC", cells[index]).strip()

    def bad(key: str, problem: AppointmentProblem, limit: int = 0) -> None:
        problems.append(RowProblem(line, key, problem, limit=limit))

    values: dict[str, str] = {}
    for key in REQUIRED:
        values[key] = cell(key)
        if not values[key]:
            bad(key, AppointmentProblem.MISSING)

    patient = values["patient_number"]
    if patient:
        if len(patient) > MAX_PATIENT_NUMBER:
            bad("patient_number", AppointmentProblem.TOO_LONG, limit=MAX_PATIENT_NUMBER)
        elif not re.fullmatch(r"[A-Za-z0-9_-]+", patient):
            bad("patient_number", AppointmentProblem.PATIENT_NUMBER)
    kana = " ".join(values["kana"].split())
    if kana:
        if len(kana) > MAX_KANA:
            bad("kana", AppointmentProblem.TOO_LONG, limit=MAX_KANA)
        elif not re.fullmatch(r"[\u30a1-\u30fa\u30fc\u30fb ]+", kana):
            bad("kana", AppointmentProblem.KANA)

    def checked(key: str, check: Callable[[str], str]) -> str:
        raw = cell(key)
        if not raw:
            return ""  # optional, or reported as missing above
        try:
            return check(raw)
        except IdentifierError as error:
            problems.append(RowProblem(line, key, AppointmentProblem.IDENTIFIER, identifier=error))
            return ""

    birthdate = checked("birthdate", lambda s: validate_birthdate(s, today=today))
    insurer = checked("insurer_number", validate_insurer_number)
    branch = checked("branch", validate_branch)
    symbol = cell("symbol")
    number = normalize_digits(values["number"])
    for key, value in (("symbol", symbol), ("number", number)):
        if len(value) > MAX_NUMBERS:
            bad(key, AppointmentProblem.TOO_LONG, limit=MAX_NUMBERS)
    at = _appointment(line, cell, columns, problems)
    if problems:
        return None, problems
    assert at is not None
    return (
        AppointmentInput(
            patient_number=patient,
            kana=kana,
            birthdate=birthdate,
            insurer_number=insurer,
            symbol=symbol,
            number=number,
            branch=branch,
            at=at,
        ),
        [],
    )


_DATE = re.compile(r"(\d{4})(?:([-/.])(\d{1,2})\2(\d{1,2})|(\d{2})(\d{2}))")
_TIME = re.compile(r"(\d{1,2})(?::(\d{2})(?::(\d{2}))?|(\d{2}))")


def _appointment(
    line: int,
    cell: Callable[[str], str],
    columns: dict[str, int],
    problems: list[RowProblem],
) -> datetime | None:
    if "appointment" in columns:
        key = "appointment"
        raw = cell(key)
        parts = raw.replace("T", " ").split(None, 1)
        day_text = parts[0] if parts else ""
        time_text = parts[1] if len(parts) > 1 else "0:00"
    else:
        key = "appointment_date"
        day_text = cell(key)
        time_text = cell("appointment_time") or "0:00"
    if not day_text:
        problems.append(RowProblem(line, key, AppointmentProblem.MISSING))
        return None
    day = _DATE.fullmatch(day_text)
    time = _TIME.fullmatch(time_text.strip())
    if day is None or time is None:
        problems.append(RowProblem(line, key, AppointmentProblem.APPOINTMENT))
        return None
    year = int(day[1])
    month, mday = (int(day[3]), int(day[4])) if day[3] else (int(day[5]), int(day[6]))
    hour = int(time[1])
    minute = int(time[2] or time[4] or 0)
    second = int(time[3] or 0)
    try:
        at = datetime(year, month, mday, hour, minute, second, tzinfo=JST)
    except ValueError:
        problems.append(RowProblem(line, key, AppointmentProblem.APPOINTMENT))
        return None
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        problems.append(RowProblem(line, key, AppointmentProblem.APPOINTMENT))
        return None
    return at
