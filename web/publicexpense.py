"""The 公費 and 医療扶助 sections of the detail page: each public expense (番号, 受給者番号,
期間) and, for 医療扶助, each 医療券 with a plain warning when it names another institution or
its period is over. Pure functions, both languages; the desk row's marker is
present.public_expense_marks."""

from __future__ import annotations

from datetime import date

from sync.codes import (
    PublicExpenseKind,
    is_medical_aid,
    period_over,
    public_expense_kind,
    ticket_current,
    ticket_elsewhere,
)
from sync.xmlmsg import MedicalTicket, PublicExpense, Qualification, public_number_problem
from web.labels import (
    DESIGNATED_INSTITUTION_FLAG,
    MEDICAL_TREATMENT_TYPE,
    PUBLIC_EXPENSE_KIND,
    SINGLE_OR_COMBINED_USE,
    TICKET_TYPE,
    Label,
    label,
)
from web.present import date_span, pick, text

Field = tuple[str, str]
# (title, labelled fields, warning or "")
PublicSection = tuple[str, tuple[Field, ...], str]


def _fields(lang: str, pairs: list[tuple[str, str]]) -> tuple[Field, ...]:
    return tuple((text(f"desk_f_{key}", lang), value) for key, value in pairs if value)


def _coded(table: dict[str, Label], code: str, lang: str) -> str:
    return f"{label(table, code, lang)} ({code})" if code else ""


def _number(value: str, length: int, lang: str) -> str:
    """The number as sent, flagged when its check digit is wrong."""
    if value and public_number_problem(value, length) == "check_digit":
        return f"{value} ({text('pe_check_digit_bad', lang)})"
    return value


def _period(start: str, end: str, today: date | None, lang: str) -> str:
    span = date_span(start, end)
    if span and period_over(end, today):
        return f"{span} ({text('desk_period_expired', lang)})"
    return span


def _month(value: str) -> str:
    return f"{value[:4]}/{value[4:]}" if len(value) == 6 else value


def _yen(value: str, lang: str) -> str:
    if not value.isdigit():
        return value
    return text("pe_yen", lang, amount=f"{int(value):,}")


def public_expense_sections(
    q: Qualification, lang: str, today: date | None = None
) -> list[PublicSection]:
    sections: list[PublicSection] = []
    if is_medical_aid(q):
        warning = "" if q.medical_tickets else text("pe_warn_no_ticket", lang)
        sections.append(
            (
                text("pe_section_aid", lang),
                _fields(
                    lang,
                    [
                        ("pe_number", _number(q.insurer_number.strip(), 8, lang)),
                        ("pe_recipient", _number(q.number, 7, lang)),
                    ],
                ),
                warning,
            )
        )
    for n, expense in enumerate(q.public_expenses, start=1):
        sections.append(_expense_section(expense, n, lang, today))
    for n, ticket in enumerate(q.medical_tickets, start=1):
        sections.append(_ticket_section(ticket, n, lang, today))
    return sections


def _expense_section(e: PublicExpense, n: int, lang: str, today: date | None) -> PublicSection:
    kind: PublicExpenseKind = public_expense_kind(e.number)
    return (
        text("pe_section_expense", lang, n=n, kind=pick(PUBLIC_EXPENSE_KIND[kind], lang)),
        _fields(
            lang,
            [
                ("pe_number", _number(e.number, 8, lang)),
                ("pe_recipient", _number(e.recipient, 7, lang)),
                ("pe_period", _period(e.valid_start, e.valid_end, today, lang)),
            ],
        ),
        "",
    )


def _ticket_section(t: MedicalTicket, n: int, lang: str, today: date | None) -> PublicSection:
    institution = " ".join(p for p in (t.institution_code, t.institution_name) if p)
    if t.institution_flag:
        flag = _coded(DESIGNATED_INSTITUTION_FLAG, t.institution_flag, lang)
        institution = f"{institution} — {flag}" if institution else flag
    prescriber = " ".join(p for p in (t.prescriber_code, t.prescriber_name) if p)
    warnings = []
    if ticket_elsewhere(t):
        warnings.append(text("pe_warn_elsewhere", lang))
    if not ticket_current(t, today):
        warnings.append(text("pe_warn_ticket_expired", lang))
    return (
        text("pe_section_ticket", lang, n=n),
        _fields(
            lang,
            [
                ("ticket_type", _coded(TICKET_TYPE, t.ticket_type, lang)),
                ("ticket_period", _period(t.valid_date, t.expiration_date, today, lang)),
                ("ticket_month", _month(t.treatment_month)),
                ("ticket_issue", t.issue_number),
                ("ticket_institution", institution),
                ("ticket_prescriber", prescriber),
                ("ticket_injuries", "、".join(i for i in t.injury_names if i)),
                ("ticket_treatment", _coded(MEDICAL_TREATMENT_TYPE, t.treatment_type, lang)),
                ("ticket_self_pay", _yen(t.self_pay_amount, lang)),
                ("ticket_use", _coded(SINGLE_OR_COMBINED_USE, t.single_or_combined, lang)),
                ("ticket_social", t.social_insurance),
                ("ticket_remarks", " / ".join(r for r in t.remarks if r)),
            ],
        ),
        " ".join(warnings),
    )
