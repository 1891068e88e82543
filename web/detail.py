"""The detail page of one stored answer: every field labelled, the audit trail, the raw XML.

Pure functions, both languages; the reception table's row comes from present.confirmation_row.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sync.clock import JST
from sync.store import AuditEntry, Confirmation, OutboxAlert, Store
from sync.xmldoc import parse_document
from sync.xmlmsg import Qualification, QualificationRequest
from web.labels import (
    INSURED_CARD_CLASSIFICATION,
    LIMIT_CERTIFICATE_CLASSIFICATION,
    LIMIT_CERTIFICATE_FLAG,
    PERSONAL_FAMILY,
    PRESCRIPTION_ISSUE_SELECT,
    PROCESSING_RESULT_STATUS,
    QUALIFICATION_VALIDITY,
    REASON_OF_LOSS,
    REFERENCE_CLASSIFICATION,
    SEGMENT_OF_RESULT,
    SEX,
    SPECIFIC_DISEASE_CATEGORY,
    Label,
    consent_kind_text,
    label,
)
from web.people import display_name
from web.present import (
    STRINGS,
    confirmation_row,
    format_birthdate,
    format_date,
    format_ratio,
    jst_timestamp,
    period_ended,
    ratio_text,
    text,
)
from web.publicexpense import public_expense_sections

Field = tuple[str, str]  # (label, value) as shown


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[Field, ...]
    warning: str = ""  # shown above the fields, e.g. a 医療券 naming another institution


@dataclass(frozen=True)
class QualificationView:
    title: str
    fields: tuple[Field, ...]
    extra: tuple[Section, ...]  # elderly, 限度額, specific diseases, 公費/医療券, consent


@dataclass(frozen=True)
class ConfirmationDetail:
    row: dict[str, Any]
    summary: tuple[Field, ...]
    header: tuple[Field, ...]
    search: tuple[Field, ...]
    qualifications: tuple[QualificationView, ...]


def _coded(table: dict[str, Label], code: str, lang: str) -> str:
    """ "有効 (1)": the label and the code as sent, or "" when nothing was sent."""
    return f"{label(table, code, lang)} ({code})" if code else ""


def _fields(lang: str, pairs: list[tuple[str, str]]) -> tuple[Field, ...]:
    """Labelled fields that carry a value (absent tags are not shown as empty rows)."""
    return tuple((text(f"desk_f_{key}", lang), value) for key, value in pairs if value)


def _jst_time(value: str) -> str:
    """YYYYMMDDHHmmss → "2026/04/01 10:30:00"; anything else is shown as given."""
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").strftime("%Y/%m/%d %H:%M:%S")
    except ValueError:
        return value


def _yes_no(value: bool, lang: str) -> str:
    return text("desk_yes" if value else "desk_no", lang)


def _ended(valid_end: str, today: date | None, lang: str) -> str:
    """A period's last day, marked when it is over by `today`."""
    shown = format_date(valid_end)
    if shown and period_ended(valid_end, today):
        return f"{shown} ({text('desk_period_expired', lang)})"
    return shown


def _qualification_view(
    q: Qualification, index: int, lang: str, today: date | None = None
) -> QualificationView:
    ratio = ratio_text(q, lang, today)
    fields = _fields(
        lang,
        [
            (
                "card_classification",
                _coded(INSURED_CARD_CLASSIFICATION, q.card_classification, lang),
            ),
            ("insurer_number", q.insurer_number.strip()),
            ("insurer_name", q.insurer_name),
            ("symbol", q.symbol),
            ("number", q.number),
            ("branch", q.branch),
            ("personal_family", _coded(PERSONAL_FAMILY, q.personal_family, lang)),
            ("insured_name", q.insured_name),
            ("name", q.name),
            ("name_of_other", q.name_of_other),
            ("name_kana", q.name_kana),
            ("name_of_other_kana", q.name_of_other_kana),
            ("sex", _coded(SEX, q.sex, lang)),
            ("birthdate", format_birthdate(q.birthdate)),
            ("address", q.address),
            ("post_number", q.post_number),
            ("qualification_date", format_date(q.qualification_date)),
            ("disqualification_date", format_date(q.disqualification_date)),
            ("reason_of_loss", _coded(REASON_OF_LOSS, q.reason_of_loss, lang)),
            ("certificate_issuance_date", format_date(q.certificate_issuance_date)),
            ("card_valid_date", format_date(q.card_valid_date)),
            ("card_expiration_date", format_date(q.card_expiration_date)),
            (
                "contribution_ratio",
                f"{ratio.ratio} ({q.contribution_ratio})" if ratio.ratio else q.contribution_ratio,
            ),
            ("preschool", ratio.note),
            ("reference_number", q.reference_number),
        ],
    )
    extra: list[Section] = []
    if q.elderly is not None:
        extra.append(
            Section(
                text("desk_section_elderly", lang),
                _fields(
                    lang,
                    [
                        ("issue_date", format_date(q.elderly.issue_date)),
                        ("valid_start", format_date(q.elderly.valid_start)),
                        ("valid_end", _ended(q.elderly.valid_end, today, lang)),
                        ("ratio", format_ratio(q.elderly.ratio, lang) or q.elderly.ratio),
                    ],
                ),
            )
        )
    if q.limit is not None:
        extra.append(
            Section(
                text("desk_section_limit", lang),
                _fields(
                    lang,
                    [
                        (
                            "limit_classification",
                            _coded(LIMIT_CERTIFICATE_CLASSIFICATION, q.limit.classification, lang),
                        ),
                        ("limit_flag", _coded(LIMIT_CERTIFICATE_FLAG, q.limit.flag, lang)),
                        ("issue_date", format_date(q.limit.issue_date)),
                        ("valid_start", format_date(q.limit.valid_start)),
                        ("valid_end", _ended(q.limit.valid_end, today, lang)),
                    ],
                ),
            )
        )
    if q.specific_diseases:
        extra.append(
            Section(
                text("desk_section_diseases", lang),
                tuple(
                    (text("desk_f_disease", lang), _coded(SPECIFIC_DISEASE_CATEGORY, code, lang))
                    for code in q.specific_diseases
                ),
            )
        )
    extra.extend(Section(*part) for part in public_expense_sections(q, lang, today))
    if q.consents:
        consent_fields: list[Field] = []
        for state in q.consents:
            agreed = state.flag == "1"
            parts = [text("desk_consent_yes" if agreed else "desk_consent_no", lang)]
            if state.time:
                parts.append(text("desk_consent_at", lang, at=_jst_time(state.time)))
            if state.available_time:
                parts.append(
                    text("desk_consent_until", lang, until=_jst_time(state.available_time))
                )
            consent_fields.append((consent_kind_text(state.kind, lang), " ・ ".join(parts)))
        extra.append(Section(text("desk_section_consent", lang), tuple(consent_fields)))
    return QualificationView(
        text("desk_section_qualification", lang, n=index), fields, tuple(extra)
    )


def confirmation_detail(
    c: Confirmation,
    lang: str,
    staff: str = "",
    earlier: Confirmation | None = None,
    today: date | None = None,
) -> ConfirmationDetail:
    """Every field of a stored answer, labelled, for the detail page. A visit kept offline
    has no answer of its own: its row shows `earlier` (its 前回確認), which has its own page."""
    result = c.result
    row = confirmation_row(c, lang, staff, earlier, today)
    kind = text(f"desk_kind_{c.kind}", lang) if c.kind in ("card", "numbers") else c.kind
    summary: tuple[Field, ...] = (
        (text("desk_f_badge", lang), row["badge"]["label"]),
        (text("desk_f_created_at", lang), f"{c.created_at.astimezone(JST):%Y/%m/%d %H:%M:%S}"),
        (text("desk_f_kind", lang), kind),
        (text("desk_f_method", lang), row["method"]),
        (text("desk_f_source", lang), row["source"]),
    )
    if c.visit_id:
        summary += ((text("desk_f_visit", lang), c.visit_id),)
    header = _fields(
        lang,
        [
            ("process_time", _jst_time(result.process_time)),
            ("confirmation_date", format_date(result.confirmation_date)),
            ("medical_institution_code", result.medical_institution_code),
            ("file_id", result.file_id),
            (
                "reference_classification",
                _coded(REFERENCE_CLASSIFICATION, result.reference_classification, lang),
            ),
            ("segment_of_result", _coded(SEGMENT_OF_RESULT, result.segment_of_result, lang)),
            ("error_code", result.error_code),
            ("error_message", result.error_message),
            ("processing_status", _coded(PROCESSING_RESULT_STATUS, result.processing_status, lang)),
            ("processing_code", result.processing_code),
            ("processing_message", result.processing_message),
            ("validity", _coded(QUALIFICATION_VALIDITY, result.validity, lang)),
            (
                "prescription",
                _coded(PRESCRIPTION_ISSUE_SELECT, result.prescription_issue_select, lang),
            ),
            ("character_code", result.character_code),
        ],
    )
    search: tuple[Field, ...] = ()
    if result.search is not None:
        s = result.search
        search = _fields(
            lang,
            [
                ("insurer_number", s.insurer_number.strip()),
                ("symbol", s.symbol),
                ("number", s.number),
                ("branch", s.branch),
                ("birthdate", format_birthdate(s.birthdate)),
                ("limit_consent", _yes_no(s.limit_consent, lang)),
            ],
        )
    return ConfirmationDetail(
        row,
        summary,
        header,
        search,
        tuple(
            _qualification_view(q, n, lang, today) for n, q in enumerate(result.results, start=1)
        ),
    )


@dataclass(frozen=True)
class AuditLine:
    at: str  # JST, "2026/04/01 10:30:05"
    actor: str
    action: str  # labelled
    detail: str


def audit_lines(
    entries: list[AuditEntry], lang: str, name: Callable[[str], str] = str
) -> list[AuditLine]:
    """`name`: who an actor is as a person reads it (web/people.py namer)."""
    lines = []
    for entry in entries:
        key = f"desk_action_{entry.action}"
        action = text(key, lang) if key in STRINGS else entry.action
        lines.append(AuditLine(jst_timestamp(entry.at), name(entry.actor), action, entry.detail))
    return lines


def pretty_xml(raw: bytes) -> str:
    """The answer document indented for reading (the page escapes it); parsed safely first."""
    element = copy.deepcopy(parse_document(raw).element)
    ET.indent(element)
    return ET.tostring(element, encoding="unicode")


@dataclass(frozen=True)
class RecheckView:
    """A re-check whose answer differs from the one charged: both answers side by side; or a
    re-check given up unanswered (`unanswered`): what was asked, for a person to check."""

    alert_id: int
    changes: tuple[str, ...]  # labelled
    earlier: dict[str, Any] | None  # confirmation_row of the answer charged (None: purged)
    answer: dict[str, Any] | None  # confirmation_row of the re-check's answer
    acknowledged: str  # "" while open, else who saw it, in words
    title: str = ""  # what the alert is about, in words
    unanswered: bool = False
    asked: str = ""  # a given-up item's numbers and when it was queued, while it keeps them


def recheck_view(alert: OutboxAlert, store: Store, lang: str) -> RecheckView:
    """Both answers of one changed-answer alert, as reception rows; for a given-up re-check,
    the numbers it asked with (kept until the alert is acknowledged)."""
    earlier = store.confirmation(alert.earlier_id) if alert.earlier_id is not None else None
    answer = store.confirmation(alert.answer_id) if alert.answer_id is not None else None
    asked = ""
    if alert.unanswered:
        item = store.outbox_item(alert.outbox_id)
        if item is not None:
            asked = _asked_text(item.request, item.created_at, lang)
    return RecheckView(
        alert.id,
        tuple(
            text(f"recheck_change_{c}", lang) if f"recheck_change_{c}" in STRINGS else c
            for c in alert.changes
        ),
        confirmation_row(earlier, lang) if earlier is not None else None,
        confirmation_row(answer, lang) if answer is not None else None,
        text("recheck_acked_by", lang, staff=display_name(store, alert.acknowledged_by, lang))
        if alert.acknowledged_at is not None
        else "",
        text("recheck_gave_up_title" if alert.unanswered else "recheck_alerts_title", lang),
        alert.unanswered,
        asked,
    )


def _asked_text(request: QualificationRequest | None, queued_at: datetime, lang: str) -> str:
    """保険者番号 … 記号・番号 … 生年月日 … (queued at …), as the desk types them."""
    when = f"{queued_at.astimezone(JST):%Y/%m/%d %H:%M}"
    search = request.search if request is not None else None
    if search is None:
        return text("recheck_gave_up_queued", lang, when=when)
    numbers = " ".join(p for p in (search.symbol, search.number) if p)
    if search.branch:
        numbers += f" ({search.branch})"
    return text(
        "recheck_gave_up_asked",
        lang,
        insurer=search.insurer_number.lstrip("0") or search.insurer_number,
        numbers=numbers,
        birthdate=format_birthdate(search.birthdate),
        when=when,
    )


def recheck_comparisons(store: Store, c: Confirmation, lang: str) -> list[RecheckView]:
    """The changed-answer alerts `c` is part of (as the answer charged or the re-check's)."""
    return [recheck_view(alert, store, lang) for alert in store.outbox_alerts_for(c.id)]
