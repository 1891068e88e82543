"""Identifiers typed at reception: insurer numbers, birth dates, institution codes, branches.

Staff type these from worn cards and paper certificates, often with a Japanese IME switched to
full width, so everything is NFKC-normalised first and every rejection says which field and,
for a check-digit typo, which digit is wrong.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

_FIELD_LABELS: dict[str, tuple[str, str]] = {
    "insurer_number": ("保険者番号", "insurer number"),
    "birthdate": ("生年月日", "birthdate"),
    "medical_institution_code": ("医療機関コード", "medical institution code"),
    "branch": ("枝番", "branch number"),
    "check_digit_body": ("検証番号の計算対象", "check digit input"),
}


class IdentifierError(ValueError):
    """A rejected identifier; the message is Japanese then English and never echoes the value."""

    def __init__(
        self,
        field: str,
        ja: str,
        en: str,
        position: int | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(f"{ja} / {en}")
        self.field = field
        self.position = position
        self.expected = expected


def _labels(field: str) -> tuple[str, str]:
    return _FIELD_LABELS.get(field, (field, field))


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
            ja, en = _labels(field)
            raise IdentifierError(
                field,
                f"{ja}に使えない数字があります ({index}文字目)。0〜9 で入力してください",
                f"{en} has a digit of another script (character {index}): type 0-9",
                position=index,
            )
    return normalize_digits(s)


def _require_digits(field: str, s: str) -> None:
    ja, en = _labels(field)
    if not s:
        raise IdentifierError(field, f"{ja}が入力されていません", f"{en} is missing")
    for index, char in enumerate(s, start=1):
        if not ("0" <= char <= "9"):
            raise IdentifierError(
                field,
                f"{ja}に数字以外の文字があります ({index}桁目)",
                f"{en} contains a non-digit (position {index})",
                position=index,
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
    ja, en = _labels(field)
    typed = _typed_digits(field, s)
    _require_digits(field, typed)
    if len(typed) == 8 and typed.startswith("00"):
        canonical = typed[2:]
    elif len(typed) in (6, 8):
        canonical = typed
    else:
        raise IdentifierError(
            field,
            f"{ja}は6桁または8桁の数字です ({len(typed)}桁が入力されました)",
            f"{en} must be 6 or 8 digits ({len(typed)} given)",
        )
    expected = str(check_digit(canonical[:-1]))
    if canonical[-1] != expected:
        position = len(typed)  # the check digit is the last digit as typed
        raise IdentifierError(
            field,
            f"{ja}の検証番号が違います ({position}桁目: {canonical[-1]} → {expected})",
            f"{en} check digit is wrong (digit {position}: {canonical[-1]}, expected {expected})",
            position=position,
            expected=expected,
        )
    return canonical


@dataclass(frozen=True)
class _Era:
    letter: str
    name_ja: str
    name_en: str
    start: date
    end: date | None


# 明治 starts at 明治元年1月1日 (1868-01-25 Gregorian): the era name was applied retroactively.
_ERAS = (
    _Era("M", "明治", "Meiji", date(1868, 1, 25), date(1912, 7, 29)),
    _Era("T", "大正", "Taisho", date(1912, 7, 30), date(1926, 12, 24)),
    _Era("S", "昭和", "Showa", date(1926, 12, 25), date(1989, 1, 7)),
    _Era("H", "平成", "Heisei", date(1989, 1, 8), date(2019, 4, 30)),
    _Era("R", "令和", "Reiwa", date(2019, 5, 1), None),
)
_ERA_BY_KEY = {key: era for era in _ERAS for key in (era.letter, era.name_ja, era.name_ja[0])}
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
    ja, en = _labels(field)
    try:
        return date(year, month, day)
    except ValueError:
        raise IdentifierError(
            field, f"{ja}が存在しない日付です", f"{en} is not a real calendar date"
        ) from None


def validate_birthdate(s: str, *, today: date | None = None) -> str:
    """Western (YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD) or 和暦 (R2.4.1, 令和2年4月1日) → YYYYMMDD.

    With `today` (from the caller's injected clock, in Japan) a date after it is refused: nobody
    is born tomorrow. Without it only the form is checked (a date of care has its own rule).
    """
    day = _typed_date(s)
    if today is not None and day > today:
        ja, en = _labels("birthdate")
        raise IdentifierError(
            "birthdate",
            f"{ja}が未来の日付です。生年月日を確かめてください",
            f"{en} is in the future: check the date of birth",
        )
    return day.strftime("%Y%m%d")


def _typed_date(s: str) -> date:
    field = "birthdate"
    ja, en = _labels(field)
    text = _typed_digits(field, s).upper()
    if not text:
        raise IdentifierError(field, f"{ja}が入力されていません", f"{en} is missing")
    for pattern in _WESTERN_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            day = _real_date(field, int(found["y"]), int(found["m"]), int(found["d"]))
            if day < _EARLIEST_BIRTHDATE:
                raise IdentifierError(field, f"{ja}が1868年より前です", f"{en} is before 1868")
            return day
    for pattern in _WAREKI_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            era = _ERA_BY_KEY[found["era"]]
            era_year = 1 if found["y"] == "元" else int(found["y"])
            if era_year < 1:
                raise IdentifierError(
                    field, f"{ja}の{era.name_ja}の年が0です", f"{en} has {era.name_en} year 0"
                )
            year = era.start.year + era_year - 1
            day = _real_date(field, year, int(found["m"]), int(found["d"]))
            if day < era.start or (era.end is not None and day > era.end):
                until = era.end.isoformat() if era.end else ""
                span = f"{era.name_ja}は{era.start.isoformat()}〜{until}"
                raise IdentifierError(
                    field,
                    f"{ja}が{era.name_ja}の期間外です ({span})",
                    f"{en} is outside the {era.name_en} era "
                    f"({era.start.isoformat()} to {until or 'now'})",
                )
            return day
    raise IdentifierError(
        field,
        f"{ja}の形式が違います (例: 19700401, 1970-04-01, S45.4.1, 昭和45年4月1日)",
        f"{en} format not recognised (e.g. 19700401, 1970-04-01, S45.4.1)",
    )


def validate_medical_institution_code(s: str) -> str:
    """Ten digits (都道府県 2 + 点数表 1 + 医療機関番号 7)."""
    field = "medical_institution_code"
    ja, en = _labels(field)
    code = _typed_digits(field, s)
    _require_digits(field, code)
    if len(code) != 10:
        raise IdentifierError(
            field,
            f"{ja}は10桁の数字です ({len(code)}桁が入力されました)",
            f"{en} must be 10 digits ({len(code)} given)",
        )
    return code


def validate_branch(s: str) -> str:
    """Empty (not known yet: the answer supplies it) or two digits; "1" becomes "01"."""
    field = "branch"
    ja, en = _labels(field)
    branch = _typed_digits(field, s)
    if not branch:
        return ""
    _require_digits(field, branch)
    if len(branch) > 2:
        raise IdentifierError(
            field,
            f"{ja}は2桁の数字です ({len(branch)}桁が入力されました)",
            f"{en} must be 2 digits ({len(branch)} given)",
        )
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
