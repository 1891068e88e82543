"""The 被保険者資格申立書 (DOMAIN §9): when the online check cannot be done and the patient has no
other proof, they state their insurance on this form, sign it, and pay their usual share.

The desk opens it pre-filled from what is known (an earlier answer for the patient), staff fill
in the rest as the patient tells them, and the appliance stores it encrypted like every answer.
The fields are those of the official form; their words are in web/strings_statement.py.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum

from sync.clock import JST, utc_now
from sync.codes import ratio_percent
from sync.identifiers import IdentifierError, IdentifierProblem, validate_birthdate
from sync.store import StatementRow, Store
from sync.xmlmsg import QualificationResult


class CardHeld(StrEnum):
    """保険証等の有無: does the patient hold an insurance card or 資格確認書 at all."""

    YES = "yes"
    NO = "no"


class InsuranceKind(StrEnum):
    """加入医療保険の種別."""

    EMPLOYEE = "employee"  # 健康保険 (協会けんぽ・健康保険組合)
    NATIONAL = "national"  # 国民健康保険 (市町村・国保組合)
    LATE_ELDERLY = "late_elderly"  # 後期高齢者医療
    MUTUAL_AID = "mutual_aid"  # 共済組合
    SEAMEN = "seamen"  # 船員保険
    OTHER = "other"


class Ratio(StrEnum):
    """一部負担金の割合: what the patient pays today."""

    ONE = "10"
    TWO = "20"
    THREE = "30"


class Sex(StrEnum):
    MALE = "1"
    FEMALE = "2"


class StatementProblem(StrEnum):
    MISSING = "missing"
    TOO_LONG = "too_long"
    NOT_A_CHOICE = "not_a_choice"
    UNPRINTABLE = "unprintable"
    DATE_FORMAT = "date_format"
    FUTURE = "future"
    PHONE = "phone"


@dataclass(frozen=True)
class StatementForm:
    """The form's fields as strings, in the official form's order."""

    card_held: str = ""  # CardHeld
    insurance_kind: str = ""  # InsuranceKind
    insurer_name: str = ""  # 保険者等名称
    employer: str = ""  # 事業所名
    issued: str = ""  # 交付を受けた時期 (as the patient remembers it: "2024年4月頃")
    ratio: str = ""  # Ratio
    name: str = ""  # 氏名
    birthdate: str = ""  # 生年月日 (typed; YYYYMMDD once checked)
    sex: str = ""  # Sex
    address: str = ""  # 住所
    contact: str = ""  # 連絡先 (a telephone number)


FIELD_NAMES = tuple(f.name for f in fields(StatementForm))
REQUIRED = ("card_held", "insurance_kind", "ratio", "name", "birthdate", "sex")
CHOICES: dict[str, tuple[str, ...]] = {
    "card_held": tuple(CardHeld),
    "insurance_kind": tuple(InsuranceKind),
    "ratio": tuple(Ratio),
    "sex": tuple(Sex),
}
MAX_LENGTH: dict[str, int] = {
    "insurer_name": 60,
    "employer": 60,
    "issued": 30,
    "name": 60,
    "address": 120,
    "contact": 20,
}
PHONE_CHARACTERS = frozenset("0123456789-()+ ")
IDEOGRAPHIC_SPACE = "\u3000"  # between family and given name: printable, though not to Python


class StatementRejected(Exception):
    """Something on the form is wrong; `errors` maps each field to its problem. Nothing was
    stored."""

    def __init__(self, errors: dict[str, StatementProblem]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in errors.items()))
        self.errors = errors


def _normalized(name: str, value: str) -> str:
    """No space at the ends; names and addresses otherwise as written (a name from the
    central keeps its full-width space); the telephone number in ASCII."""
    value = value.strip()
    return unicodedata.normalize("NFKC", value) if name == "contact" else value


def validate_statement(typed: StatementForm, today: datetime) -> StatementForm:
    """The form as it will be stored, or StatementRejected naming every problem at once."""
    errors: dict[str, StatementProblem] = {}
    values: dict[str, str] = {}
    for name in FIELD_NAMES:
        value = _normalized(name, getattr(typed, name))
        values[name] = value
        if not value:
            if name in REQUIRED:
                errors[name] = StatementProblem.MISSING
            continue
        if name in CHOICES and value not in CHOICES[name]:
            errors[name] = StatementProblem.NOT_A_CHOICE
        elif name in MAX_LENGTH and len(value) > MAX_LENGTH[name]:
            errors[name] = StatementProblem.TOO_LONG
        elif not value.replace(IDEOGRAPHIC_SPACE, " ").isprintable():
            errors[name] = StatementProblem.UNPRINTABLE
    if values["contact"] and "contact" not in errors:
        if not set(values["contact"]) <= PHONE_CHARACTERS or not any(
            c.isdigit() for c in values["contact"]
        ):
            errors["contact"] = StatementProblem.PHONE
    if values["birthdate"] and "birthdate" not in errors:
        try:
            values["birthdate"] = validate_birthdate(
                values["birthdate"], today=today.astimezone(JST).date()
            )
        except IdentifierError as exc:
            future = exc.problem is IdentifierProblem.FUTURE
            errors["birthdate"] = (
                StatementProblem.FUTURE if future else StatementProblem.DATE_FORMAT
            )
    if errors:
        raise StatementRejected(errors)
    return StatementForm(**values)


# 法別番号 (the first two digits of an eight-digit insurer number) → kind of insurance; six
# digits are 国民健康保険 (DOMAIN §2).
_KIND_BY_LAW_NUMBER = {
    "01": InsuranceKind.EMPLOYEE,  # 協会けんぽ
    "02": InsuranceKind.SEAMEN,
    "06": InsuranceKind.EMPLOYEE,  # 健康保険組合
    "31": InsuranceKind.MUTUAL_AID,
    "32": InsuranceKind.MUTUAL_AID,
    "33": InsuranceKind.MUTUAL_AID,
    "34": InsuranceKind.MUTUAL_AID,
    "39": InsuranceKind.LATE_ELDERLY,
}


def insurance_kind_of(insurer_number: str) -> InsuranceKind | None:
    number = insurer_number.strip()
    if len(number) == 6 and number.isdigit():
        return InsuranceKind.NATIONAL
    if len(number) == 8 and number.isdigit():
        return _KIND_BY_LAW_NUMBER.get(number[:2], InsuranceKind.OTHER)
    return None


def prefilled(result: QualificationResult | None) -> StatementForm:
    """What an earlier answer already says about the patient; empty where it says nothing."""
    first = result.results[0] if result is not None and result.results else None
    if first is None:
        return StatementForm()
    kind = insurance_kind_of(first.insurer_number)
    ratio = ratio_percent(first.contribution_ratio)
    return StatementForm(
        card_held="",  # only the patient can say
        insurance_kind=kind.value if kind else "",
        insurer_name=first.insurer_name,
        ratio=str(ratio) if ratio is not None and str(ratio) in CHOICES["ratio"] else "",
        name=first.name,
        birthdate=first.birthdate,
        sex=first.sex if first.sex in CHOICES["sex"] else "",
        address=first.address,
    )


class Statements:
    """Open (pre-filled), check and keep 申立書. `clock` dates them and bounds the birth date."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def start(self, confirmation_id: int | None, *, actor: str) -> StatementForm:
        """A form pre-filled from a stored answer (its view is audited), or an empty one."""
        if confirmation_id is None:
            return StatementForm()
        found = self._store.confirmation(confirmation_id)
        if found is not None and found.offline:
            # A visit kept offline has no answer: what its 前回確認 said, if there was one.
            earlier_id = found.earlier_id
            found = None if earlier_id is None else self._store.confirmation(earlier_id)
        if found is None:
            return StatementForm()
        self._store.audit(actor, "statement.prefill", f"confirmation:{found.id}")
        return prefilled(found.result)

    def save(
        self,
        typed: StatementForm,
        *,
        actor: str,
        visit_id: str | None = None,
        confirmation_id: int | None = None,
    ) -> StatementRow:
        """StatementRejected (nothing stored) or the stored statement, with its audit entry."""
        checked = validate_statement(typed, self._clock())
        values = {name: getattr(checked, name) for name in FIELD_NAMES}
        return self._store.save_statement(
            values, actor=actor, visit_id=visit_id, confirmation_id=confirmation_id
        )

    def open(self, statement_id: int, *, actor: str) -> tuple[StatementRow, StatementForm] | None:
        """A stored statement and its form; the view is audited."""
        row = self._store.statement(statement_id)
        if row is None:
            return None
        self._store.audit(actor, "statement.view", f"statement:{statement_id}")
        form = replace(StatementForm(), **{n: row.fields.get(n, "") for n in FIELD_NAMES})
        return row, form
