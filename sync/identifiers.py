"""Identifiers typed at reception: insurer numbers, birth dates, institution codes, branches.

Staff type these from worn cards and paper certificates, often with a Japanese IME switched to
full width, so everything is NFKC-normalised first and every rejection says which field, what
is wrong (an IdentifierProblem) and, for a check-digit typo, which digit and the one expected;
the pages put that into words (web/field_errors.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class IdentifierProblem(StrEnum):
    """What is wrong with a typed identifier; the error's other attributes hold the numbers."""

    MISSING = "missing"
    FOREIGN_DIGIT = "foreign_digit"  # a digit of another script at `position` (a character)
    NON_DIGIT = "non_digit"  # something other than 0-9 at `position`
    LENGTH = "length"  # `length` digits given, `lengths` allowed
    CHECK_DIGIT = "check_digit"  # digit `position` is `typed`, `expected` was expected
    NOT_A_DATE = "not_a_date"  # no such day in the calendar
    BEFORE_EARLIEST = "before_earliest"  # before `earliest` (1868-01-01)
    ERA_YEAR_ZERO = "era_year_zero"  # year 0 of `era`
    OUTSIDE_ERA = "outside_era"  # not between `era_start` and `era_end` (None: still running)
    DATE_FORMAT = "date_format"  # none of the accepted forms
    FUTURE = "future"  # a birth date after today


class IdentifierError(ValueError):
    """A rejected identifier: which field, what is wrong, and the numbers that say where.
    The message is for the log and never echoes the value; the pages word it themselves."""

    def __init__(
        self,
        field: str,
        problem: IdentifierProblem,
        detail: str,
        *,
        position: int | None = None,
        expected: str | None = None,
        typed: str | None = None,
        length: int | None = None,
        lengths: tuple[int, ...] = (),
        era: str | None = None,
        era_start: date | None = None,
        era_end: date | None = None,
        earliest: date | None = None,
    ) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.problem = problem
        self.position = position
        self.expected = expected
        self.typed = typed  # the check digit as typed (the one digit at fault, not the value)
        self.length = length
        self.lengths = lengths
        self.era = era  # the era's letter: M, T, S, H, R
        self.era_start = era_start
        self.era_end = era_end
        self.earliest = earliest


def normalize_digits(s: str) -> str:
    """Full-width digits and letters to ASCII (NFKC) and every kind of space removed."""
    return "".join(unicodedata.normalize("NFKC", s).split())


_TYPED_DIGITS = frozenset("0123456789０１２３４５６７８９")  # ASCII and the IME's full width


def _typed_digits(field: str, s: str) -> str:
    """normalize_digits, refusing digits of other scripts first (Arabic-Indic, Devanagari,
    circled, superscript…): NFKC would quietly turn some of them into ASCII, and `\\d` or int()
    would take the rest, so a date or number nobody at a Japanese desk typed could be sent."""
    for index, char in enumerate(s, start=1):
        if char not in _TYPED_DIGITS and unicodedata.digit(char, None) is not None:
            raise IdentifierError(
                field,
                IdentifierProblem.FOREIGN_DIGIT,
                f"a digit of another script (character {index})",
                position=index,
            )
    return normalize_digits(s)


def _require_digits(field: str, s: str) -> None:
    if not s:
        raise IdentifierError(field, IdentifierProblem.MISSING, "missing")
    for index, char in enumerate(s, start=1):
        if not ("0" <= char <= "9"):
            raise IdentifierError(
                field,
                IdentifierProblem.NON_DIGIT,
                f"a non-digit (position {index})",
                position=index,
            )


def _wrong_length(field: str, length: int, lengths: tuple[int, ...]) -> IdentifierError:
    allowed = " or ".join(str(n) for n in lengths)
    return IdentifierError(
        field,
        IdentifierProblem.LENGTH,
        f"must be {allowed} digits ({length} given)",
        length=length,
        lengths=lengths,
    )


def check_digit(body: str) -> int:
    """DOMAIN §2: weights 2,1,2,1… from the last digit, products summed digit by digit."""
    _require_digits("check_digit_body", body)
    total = 0
    for offset, char in enumerate(reversed(body)):
        product = int(char) * (2 if offset % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def validate_insurer_number(s: str) -> str:
    """Return the canonical 6 (国保) or 8 digits, or raise IdentifierError.

    国保 numbers arrive padded to 8 with spaces or zeros; no 法別番号 is 00, so 8 digits that
    start with 00 are a padded 6-digit number (leading zeros do not change the check digit).
    """
    field = "insurer_number"
    typed = _typed_digits(field, s)
    _require_digits(field, typed)
    if len(typed) == 8 and typed.startswith("00"):
        canonical = typed[2:]
    elif len(typed) in (6, 8):
        canonical = typed
    else:
        raise _wrong_length(field, len(typed), (6, 8))
    expected = str(check_digit(canonical[:-1]))
    if canonical[-1] != expected:
        position = len(typed)  # the check digit is the last digit as typed
        raise IdentifierError(
            field,
            IdentifierProblem.CHECK_DIGIT,
            f"check digit is wrong (digit {position}, expected {expected})",
            position=position,
            expected=expected,
            typed=canonical[-1],
        )
    return canonical


@dataclass(frozen=True)
class _Era:
    letter: str
    name: str  # as typed: 令和, or its first character
    start: date
    end: date | None


# 明治 starts at 明治元年1月1日 (1868-01-25 Gregorian): the era name was applied retroactively.
_ERAS = (
    _Era("M", "明治", date(1868, 1, 25), date(1912, 7, 29)),
    _Era("T", "大正", date(1912, 7, 30), date(1926, 12, 24)),
    _Era("S", "昭和", date(1926, 12, 25), date(1989, 1, 7)),
    _Era("H", "平成", date(1989, 1, 8), date(2019, 4, 30)),
    _Era("R", "令和", date(2019, 5, 1), None),
)
_ERA_BY_KEY = {key: era for era in _ERAS for key in (era.letter, era.name, era.name[0])}
_ERA_KEYS = "|".join(sorted(_ERA_BY_KEY, key=len, reverse=True))

_WESTERN_PATTERNS = (
    re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"),
    re.compile(r"(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<y>[0-9]{4})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})日?"),
)
_WAREKI_PATTERNS = (
    re.compile(
        rf"(?P<era>{_ERA_KEYS})(?P<y>[0-9]{{1,2}}|元)(?P<sep>[-/.])(?P<m>[0-9]{{1,2}})(?P=sep)(?P<d>[0-9]{{1,2}})"
    ),
    re.compile(
        rf"(?P<era>{_ERA_KEYS})(?P<y>[0-9]{{1,2}}|元)年(?P<m>[0-9]{{1,2}})月(?P<d>[0-9]{{1,2}})日?"
    ),
    re.compile(rf"(?P<era>{_ERA_KEYS})(?P<y>[0-9]{{2}})(?P<m>[0-9]{{2}})(?P<d>[0-9]{{2}})"),
)
_EARLIEST_BIRTHDATE = date(1868, 1, 1)


def _real_date(field: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise IdentifierError(
            field, IdentifierProblem.NOT_A_DATE, "not a real calendar date"
        ) from None


def validate_birthdate(s: str, *, today: date | None = None) -> str:
    """Western (YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD) or 和暦 (R2.4.1, 令和2年4月1日) → YYYYMMDD.

    With `today` (from the caller's injected clock, in Japan) a date after it is refused: nobody
    is born tomorrow. Without it only the form is checked (a date of care has its own rule).
    """
    day = _typed_date(s)
    if today is not None and day > today:
        raise IdentifierError("birthdate", IdentifierProblem.FUTURE, "in the future")
    return day.strftime("%Y%m%d")


def _typed_date(s: str) -> date:
    field = "birthdate"
    text = _typed_digits(field, s).upper()
    if not text:
        raise IdentifierError(field, IdentifierProblem.MISSING, "missing")
    for pattern in _WESTERN_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            day = _real_date(field, int(found["y"]), int(found["m"]), int(found["d"]))
            if day < _EARLIEST_BIRTHDATE:
                raise IdentifierError(
                    field,
                    IdentifierProblem.BEFORE_EARLIEST,
                    f"before {_EARLIEST_BIRTHDATE.year}",
                    earliest=_EARLIEST_BIRTHDATE,
                )
            return day
    for pattern in _WAREKI_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            era = _ERA_BY_KEY[found["era"]]
            era_year = 1 if found["y"] == "元" else int(found["y"])
            if era_year < 1:
                raise IdentifierError(
                    field,
                    IdentifierProblem.ERA_YEAR_ZERO,
                    f"year 0 of era {era.letter}",
                    era=era.letter,
                )
            year = era.start.year + era_year - 1
            day = _real_date(field, year, int(found["m"]), int(found["d"]))
            if day < era.start or (era.end is not None and day > era.end):
                raise IdentifierError(
                    field,
                    IdentifierProblem.OUTSIDE_ERA,
                    f"outside era {era.letter}",
                    era=era.letter,
                    era_start=era.start,
                    era_end=era.end,
                )
            return day
    raise IdentifierError(field, IdentifierProblem.DATE_FORMAT, "format not recognised")


def validate_medical_institution_code(s: str) -> str:
    """Ten digits (都道府県 2 + 点数表 1 + 医療機関番号 7)."""
    field = "medical_institution_code"
    code = _typed_digits(field, s)
    _require_digits(field, code)
    if len(code) != 10:
        raise _wrong_length(field, len(code), (10,))
    return code


def validate_branch(s: str) -> str:
    """Empty (not known yet: the answer supplies it) or two digits; "1" becomes "01"."""
    field = "branch"
    branch = _typed_digits(field, s)
    if not branch:
        return ""
    _require_digits(field, branch)
    if len(branch) > 2:
        raise _wrong_length(field, len(branch), (2,))
    return branch.zfill(2)


def is_valid_my_number(s: str) -> bool:
    """DOMAIN §2 mod-11 check; exists so tests can prove no My Number is ever kept."""
    if len(s) != 12 or not all("0" <= c <= "9" for c in s):
        return False
    body = s[:11]
    total = 0
    for n, char in enumerate(reversed(body), start=1):
        total += int(char) * (n + 1 if n <= 6 else n - 5)
    remainder = total % 11
    expected = 0 if remainder <= 1 else 11 - remainder
    return int(s[11]) == expected
