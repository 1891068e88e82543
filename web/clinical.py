"""Doctor's view: drug and checkup history of patients who agreed to share it.

Only staff with the clinical role reach these pages. The consent rules and the audit of every
view or refusal live in device/clinical.py; this module turns an answer into something a doctor
reads in a few seconds: current medicines first, then the dispensings newest first, and
checkup values side by side per year with values outside the reference range marked by a
symbol as well as a colour.

While the central is known to be unreachable (the circuit breaker, device/reachability.py) a
page says so and since when: a cached copy says which time it shows, and a view with nothing
cached says what to do meanwhile and offers to try again.

Beside each view a link opens the same history as the central's PDF (`…/drug.pdf`): served
inline to the browser's own viewer, only while the consent is valid, every view audited
(device/clinical.py); a refusal is the same page as the view's.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, g, render_template, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from device.clinical import ClinicalRecord, ClinicalRecords, ClinicalRefused, ConsentStatus
from device.reachability import CentralReachability
from device.services import Services
from sync.clock import JST
from sync.medinfo import (
    MEDICAL_INFO_KINDS,
    CheckupExam,
    CheckupItem,
    DrugMonth,
    MedicalInfoResult,
)
from sync.store import Confirmation, Store
from web.auth import audit_actor, require_role
from web.charts import line_chart, month_axis, number_text, period_bar
from web.labels import SEX, consent_kind_text, label
from web.present import STRINGS, format_birthdate, format_date, parse_yyyymmdd, text

LIST_HOURS = 24
LIST_LIMIT = 200
LIST_KINDS = ("card", "numbers")  # card visits and insurance-number checks
CURRENT_MONTHS = 3  # "current medicines": dispensed within the last 3 months of the data
REFILL_SLACK_DAYS = 14  # a refill this many days after the last supply ran out continues it
LONGEST_SUPPLY_DAYS = 90  # a DosageDays beyond this is read as times (as-needed), not days
MONTH_NAMES_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def create_blueprint(services: Services) -> Blueprint:
    records = services.clinical
    store = services.store
    reachability = services.reachability
    bp = Blueprint("clinical", __name__, url_prefix="/clinical")
    bp.before_request(require_role("clinical"))

    @bp.get("/")
    def patients() -> str:
        lang: str = g.lang
        rows = patient_rows(store, records, lang)
        store.audit(
            audit_actor(), "clinical.list", f"confirmations:{LIST_HOURS}h", f"rows={len(rows)}"
        )
        return render_template("clinical_list.html", rows=rows)

    @bp.get("/confirmations/<int:confirmation_id>/drug")
    def drug(confirmation_id: int) -> ResponseReturnValue:
        return _view(store, records, reachability, confirmation_id, "drug")

    @bp.get("/confirmations/<int:confirmation_id>/checkup")
    def checkup(confirmation_id: int) -> ResponseReturnValue:
        return _view(store, records, reachability, confirmation_id, "checkup")

    @bp.get("/confirmations/<int:confirmation_id>/drug.pdf", defaults={"kind": "drug"})
    @bp.get("/confirmations/<int:confirmation_id>/checkup.pdf", defaults={"kind": "checkup"})
    def document(confirmation_id: int, kind: str) -> ResponseReturnValue:
        try:
            opened = records.open_document(confirmation_id, kind, user=audit_actor())
        except ClinicalRefused as refused:
            retry = url_for("clinical.document", confirmation_id=confirmation_id, kind=kind)
            return _refused_page(reachability, confirmation_id, kind, refused, retry)
        response = Response(opened.data, mimetype=opened.media_type)
        # Shown in the browser's own viewer, never saved by itself; the app's headers add
        # no-store, nosniff and the CSP (a top-level PDF needs nothing more).
        name = f"{kind}-{confirmation_id}.pdf"
        response.headers["Content-Disposition"] = f'inline; filename="{name}"'
        return response

    return bp


def _refused_page(
    reachability: CentralReachability,
    confirmation_id: int,
    kind: str,
    refused: ClinicalRefused,
    retry_url: str,
) -> ResponseReturnValue:
    lang: str = g.lang
    if refused.reason == "no_confirmation":
        abort(404)
    down_since = reachability.current().down_since
    return (
        render_template(
            "clinical_refused.html",
            title=consent_kind_text(kind, lang),
            message=refusal_text(refused, lang, down_since=down_since),
            reason=refused.reason,
            # the central may be back in a moment: the same page, asked again
            retry_url=retry_url if refused.reason == "unavailable" else "",
        ),
        # Not reached is no refusal of this doctor: "try again later", as HTTP says it.
        503 if refused.reason == "unavailable" else 403,
    )


def _view(
    store: Store,
    records: ClinicalRecords,
    reachability: CentralReachability,
    confirmation_id: int,
    kind: str,
) -> ResponseReturnValue:
    lang: str = g.lang
    try:
        record = records.open(confirmation_id, kind, user=audit_actor())
    except ClinicalRefused as refused:
        retry = url_for(f"clinical.{kind}", confirmation_id=confirmation_id)
        return _refused_page(reachability, confirmation_id, kind, refused, retry)
    confirmation = store.confirmation(confirmation_id)
    if confirmation is None:  # purged between the two reads
        abort(404)
    down_since = reachability.current().down_since
    header = patient_header(confirmation, record, records.now(), lang, down_since=down_since)
    views = other_views(confirmation, records, kind, lang)
    pdf_url = url_for("clinical.document", confirmation_id=confirmation_id, kind=kind)
    if kind == "drug":
        return render_template(
            "clinical_drug.html",
            patient=header,
            views=views,
            summary=current_medicines(record.result.months),
            lines=medicine_lines(record.result, lang),
            months=drug_timeline(record.result.months, lang),
            pdf_url=pdf_url,
        )
    return render_template(
        "clinical_checkup.html",
        patient=header,
        views=views,
        table=checkup_table(record.result.exams, lang),
        pdf_url=pdf_url,
    )


@dataclass(frozen=True)
class ViewLink:
    kind: str
    label: str
    href: str  # empty: not viewable now (the note says why)
    note: str
    current: bool


def other_views(c: Confirmation, records: ClinicalRecords, kind: str, lang: str) -> list[ViewLink]:
    """The drug and checkup views of this patient's confirmation, for the links between them."""
    statuses = records.consent_statuses(c.id, confirmed_at=c.created_at)
    links = []
    for other in MEDICAL_INFO_KINDS:
        status = statuses[other]
        chip = consent_chip(c, status, records.now(), lang)
        links.append(
            ViewLink(
                other,
                consent_kind_text(other, lang),
                url_for(f"clinical.{other}", confirmation_id=c.id) if other != kind else "",
                "" if status.valid else chip["text"],
                other == kind,
            )
        )
    return links


# -- the list -----------------------------------------------------------------------------
def patient_rows(store: Store, records: ClinicalRecords, lang: str) -> list[dict[str, Any]]:
    """Confirmations of the last 24 hours, newest first, with a consent chip per kind."""
    now = records.now()
    rows = []
    for c in store.recent_confirmations(now - timedelta(hours=LIST_HOURS), LIST_LIMIT):
        if c.kind not in LIST_KINDS:
            continue
        statuses = records.consent_statuses(c.id, confirmed_at=c.created_at)
        rows.append(
            {
                "id": c.id,
                "time": c.created_at.astimezone(JST).strftime("%H:%M"),
                **_person(c, now, lang),
                "chips": [consent_chip(c, statuses[k], now, lang) for k in MEDICAL_INFO_KINDS],
            }
        )
    return rows


@dataclass(frozen=True)
class RefusalText:
    reason: str
    ja: str
    en: str


def refusal_words(refused: ClinicalRefused, *, down_since: datetime | None = None) -> RefusalText:
    """Why a history cannot be shown, in both languages (the page shows the reader's one)."""
    return RefusalText(
        refused.reason,
        refusal_text(refused, "ja", down_since=down_since),
        refusal_text(refused, "en", down_since=down_since),
    )


def refusal_text(refused: ClinicalRefused, lang: str, *, down_since: datetime | None = None) -> str:
    """`down_since`: since when the central is known to be unreachable (None: not known to be)."""
    what = consent_kind_text(refused.kind, lang)
    if refused.reason == "unavailable" and (refused.circuit_open or down_since is not None):
        since = (
            text("cl_down_since", lang, time=f"{down_since.astimezone(JST):%H:%M}")
            if down_since is not None
            else ""
        )
        return text("cl_refused_offline", lang, what=what, since=since)
    if refused.reason == "expired":
        until = refused.until
        when = (
            text("cl_refused_ended", lang, time=f"{until.astimezone(JST):%Y/%m/%d %H:%M}")
            if until
            else ""
        )
        return text("cl_refused_expired", lang, what=what, when=when)
    if refused.reason == "central":
        if refused.answered:
            detail = refused.detail or text("cl_refused_central_failed", lang)
            return text("cl_refused_central_answer", lang, detail=detail)
        return text("cl_refused_central", lang, detail=refused.detail)
    key = "cl_refused_" + refused.reason
    if key not in STRINGS:
        key = "cl_refused_unavailable"
    return text(key, lang, what=what)


def consent_chip(
    c: Confirmation, status: ConsentStatus, now: datetime, lang: str
) -> dict[str, str]:
    kind_label = consent_kind_text(status.kind, lang)
    state = status.state
    if state == "not_asked" and c.kind != "card":
        state = "impossible"  # checked by the numbers: consent is only given at the card reader
    if status.state == "valid" and status.until is not None:
        shown = text("cl_consent_valid", lang, until=short_time(status.until, now))
        href = url_for(f"clinical.{status.kind}", confirmation_id=c.id)
    else:
        shown = text(f"cl_consent_{state}", lang)
        href = ""
    return {
        "kind": status.kind,
        "label": kind_label,
        "state": state,
        "text": shown,
        "href": href,
    }


def short_time(at: datetime, now: datetime) -> str:
    """HH:MM in Japan, with the date in front when it is not today."""
    local, today = at.astimezone(JST), now.astimezone(JST).date()
    return f"{local:%H:%M}" if local.date() == today else f"{local.month}/{local.day} {local:%H:%M}"


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _person(c: Confirmation, now: datetime, lang: str) -> dict[str, str]:
    shown = c.summary  # the row's summary: no XML parsed for the list
    first = shown.results[0] if shown.results else None
    birth_raw = first.birthdate if first else (shown.search.birthdate if shown.search else "")
    birth = parse_yyyymmdd(birth_raw)
    age = age_on(birth, now.astimezone(JST).date()) if birth else None
    return {
        "name": first.name if first else "",
        "kana": first.name_kana if first else "",
        "birthdate": format_birthdate(birth_raw),
        "age": text("cl_age", lang, n=age) if age is not None else "",
        "sex": label(SEX, first.sex, lang) if first and first.sex else "",
    }


def patient_header(
    c: Confirmation,
    record: ClinicalRecord,
    now: datetime,
    lang: str,
    *,
    down_since: datetime | None = None,
) -> dict[str, str]:
    """`down_since`: since when the central is known to be unreachable, if it is."""
    offline = ""
    if record.from_cache:
        fetched = short_time(record.fetched_at, now)
        source = text("cl_source_cache", lang, time=fetched)
        if down_since is not None:
            since = text("cl_down_since", lang, time=short_time(down_since, now))
            offline = text("cl_cached_offline", lang, since=since, time=fetched)
    else:
        source = text("cl_source_online", lang)
    result = record.result
    period = ""
    if result.start_month and result.end_month:
        start, end = _month_text(result.start_month, lang), _month_text(result.end_month, lang)
        period = text("cl_period", lang, start=start, end=end)
    return {
        **_person(c, now, lang),
        "kind": record.kind,
        "kind_label": consent_kind_text(record.kind, lang),
        "consent_until": f"{record.available_until.astimezone(JST):%Y/%m/%d %H:%M}",
        "source": source,
        "from_cache": "1" if record.from_cache else "",
        "offline": offline,
        "period": period,
    }


def _month_text(yyyymm: str, lang: str) -> str:
    if len(yyyymm) != 6 or not yyyymm.isascii() or not yyyymm.isdigit():
        return yyyymm
    year, month = int(yyyymm[:4]), int(yyyymm[4:])
    if not 1 <= month <= 12:
        return yyyymm
    return f"{MONTH_NAMES_EN[month - 1]} {year}" if lang == "en" else f"{year}年{month}月"


# -- drugs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurrentMedicine:
    name: str
    ingredient: str
    usage: str
    last_date: str  # YYYY/MM/DD
    count: int  # dispensings within the window


@dataclass(frozen=True)
class DrugLine:
    name: str
    ingredient: str
    amount: str  # quantity + unit
    usage: str
    days: str


@dataclass(frozen=True)
class DispensingView:
    date: str
    institution: str
    prescriber: str
    drugs: tuple[DrugLine, ...]


@dataclass(frozen=True)
class MonthView:
    month: str  # YYYYMM, for anchors
    label: str
    dispensings: tuple[DispensingView, ...]


def current_medicines(months: Sequence[DrugMonth]) -> list[CurrentMedicine]:
    """Drugs dispensed in the last CURRENT_MONTHS months of the data, once each, newest first."""
    dated = [
        (day, d)
        for m in months
        for d in m.dispensings
        if (day := parse_yyyymmdd(d.date)) is not None
    ]
    if not dated:
        return []
    latest = max(day for day, _ in dated)
    cutoff = _months_before(latest, CURRENT_MONTHS)
    found: dict[str, tuple[date, CurrentMedicine]] = {}
    for day, dispensing in sorted(dated, key=lambda pair: pair[0]):
        if day <= cutoff:
            continue
        for drug in dispensing.drugs:
            key = drug.code or drug.name
            count = found[key][1].count + 1 if key in found else 1
            found[key] = (
                day,
                CurrentMedicine(drug.name, drug.ingredient, drug.usage, f"{day:%Y/%m/%d}", count),
            )
    ordered = sorted(found.values(), key=lambda pair: pair[1].name)
    ordered.sort(key=lambda pair: pair[0], reverse=True)
    return [medicine for _, medicine in ordered]


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class MedicineLine:
    """One medicine of the condensed timeline: when it was supplied, as merged periods."""

    name: str
    ingredient: str
    periods: str  # in words: "2024/01/05–2024/03/30, 2024/06/01–…"
    bar: Markup
    current: bool  # supplied up to the last dispensing month of the data


@dataclass(frozen=True)
class MedicineTimeline:
    axis: Markup
    lines: tuple[MedicineLine, ...]


def supply_days(written: str) -> int:
    """DosageDays as days of supply: 1 for as-needed counts and anything unreadable."""
    s = unicodedata.normalize("NFKC", written).strip().removesuffix("日")
    if not s.isdigit():
        return 1
    days = int(s)
    return days if 1 <= days <= LONGEST_SUPPLY_DAYS else 1


def merge_periods(spans: Sequence[tuple[date, date]]) -> list[tuple[date, date]]:
    """Supplies that overlap or follow within REFILL_SLACK_DAYS become one period."""
    merged: list[tuple[date, date]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1] + timedelta(days=REFILL_SLACK_DAYS):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def medicine_lines(result: MedicalInfoResult, lang: str) -> MedicineTimeline | None:
    """One line per medicine with its periods, those taken latest first."""
    spans: dict[str, list[tuple[date, date]]] = {}
    names: dict[str, tuple[str, str]] = {}
    for month in result.months:
        for dispensing in month.dispensings:
            day = parse_yyyymmdd(dispensing.date)
            if day is None:
                continue
            for drug in dispensing.drugs:
                key = drug.code or drug.name
                end = day + timedelta(days=supply_days(drug.days) - 1)
                spans.setdefault(key, []).append((day, end))
                names[key] = (drug.name, drug.ingredient)
    if not spans:
        return None
    first = min(begin for found in spans.values() for begin, _ in found)
    last = max(begin for found in spans.values() for begin, _ in found)
    first = min(first, _month_start(result.start_month) or first)
    last = max(last, _month_start(result.end_month) or last)
    latest_month = max(begin for found in spans.values() for begin, _ in found).replace(day=1)
    keyed = []
    for key, found in spans.items():
        periods = merge_periods(found)
        name, ingredient = names[key]
        current = max(begin for begin, _ in found).replace(day=1) >= _months_before(latest_month, 1)
        words = ", ".join(
            f"{a:%Y/%m/%d}" if a == b else f"{a:%Y/%m/%d}–{b:%Y/%m/%d}" for a, b in periods
        )
        bar = period_bar(periods, first, last, label=name, current=current)
        keyed.append((periods[-1][1], MedicineLine(name, ingredient, words, bar, current)))
    keyed.sort(key=lambda pair: pair[1].name)
    keyed.sort(key=lambda pair: pair[0], reverse=True)  # the latest taken first
    return MedicineTimeline(month_axis(first, last, lang), tuple(line for _, line in keyed))


def _month_start(yyyymm: str) -> date | None:
    if len(yyyymm) != 6 or not yyyymm.isdigit() or not 1 <= int(yyyymm[4:]) <= 12:
        return None
    return date(int(yyyymm[:4]), int(yyyymm[4:]), 1)


def drug_timeline(months: Sequence[DrugMonth], lang: str) -> list[MonthView]:
    out = []
    for m in sorted(months, key=lambda m: m.month, reverse=True):
        dispensings = tuple(
            DispensingView(
                format_date(d.date),
                d.institution,
                d.prescriber,
                tuple(
                    DrugLine(x.name, x.ingredient, f"{x.quantity}{x.unit}", x.usage, x.days)
                    for x in d.drugs
                ),
            )
            for d in sorted(m.dispensings, key=lambda d: d.date, reverse=True)
        )
        if dispensings:
            out.append(MonthView(m.month, _month_text(m.month, lang), dispensings))
    return out


# -- checkups ------------------------------------------------------------------------------
_NUMBER = r"(\d+(?:\.\d+)?)"
_BETWEEN = re.compile(rf"{_NUMBER}?\s*[-~〜～–—−]\s*{_NUMBER}?")
_UPPER = re.compile(rf"(<=|<|≤|≦)\s*{_NUMBER}|{_NUMBER}\s*(以下|未満)")
_LOWER = re.compile(rf"(>=|>|≥|≧)\s*{_NUMBER}|{_NUMBER}\s*(以上|超)")


@dataclass(frozen=True)
class ReferenceRange:
    low: float | None
    high: float | None
    low_open: bool = False  # "> low": the bound itself is outside
    high_open: bool = False  # "< high" / "high 未満"

    def judge(self, value: float) -> str:
        """Where a value lies: "high", "low" or "" (within the range)."""
        if self.high is not None and (value > self.high or (self.high_open and value >= self.high)):
            return "high"
        if self.low is not None and (value < self.low or (self.low_open and value <= self.low)):
            return "low"
        return ""

    def text(self) -> str:
        """For display: "-84.9" would read as a negative number; "≤ 84.9", "≥ 40", "18.5–24.9"."""
        low = number_text(self.low) if self.low is not None else ""
        high = number_text(self.high) if self.high is not None else ""
        if low and high:
            return f"{low}–{high}"
        if high:
            return f"< {high}" if self.high_open else f"≤ {high}"
        return f"> {low}" if self.low_open else f"≥ {low}"


def reference_range(written: str) -> ReferenceRange | None:
    """Bounds of "4.6-6.2", "<150", "40以上", "≦99" …; None when not a numeric range."""
    s = unicodedata.normalize("NFKC", written).strip()
    if not s:
        return None
    if m := _BETWEEN.fullmatch(s):
        low, high = m.group(1), m.group(2)
        if low is None and high is None:
            return None
        return ReferenceRange(_float(low), _float(high))
    if m := _UPPER.fullmatch(s):
        bound = m.group(2) or m.group(3)
        open_ = m.group(1) == "<" or m.group(4) == "未満"
        return ReferenceRange(None, float(bound), high_open=open_)
    if m := _LOWER.fullmatch(s):
        bound = m.group(2) or m.group(3)
        open_ = m.group(1) == ">" or m.group(4) == "超"
        return ReferenceRange(float(bound), None, low_open=open_)
    return None


def _float(s: str | None) -> float | None:
    return float(s) if s is not None else None


def numeric_value(written: str) -> float | None:
    s = unicodedata.normalize("NFKC", written).strip()
    return float(s) if re.fullmatch(r"-?\d+(?:\.\d+)?", s) else None


def _qualitative_key(written: str) -> str:
    return re.sub(r"[\s()（）]", "", unicodedata.normalize("NFKC", written))


@dataclass(frozen=True)
class Cell:
    value: str
    unit: str
    flag: str  # "high" | "low" | "abnormal" | ""
    symbol: str  # ▲ ▼ ＊, so the mark does not rely on colour
    note: str  # the flag in words, for screen readers and the tooltip


@dataclass(frozen=True)
class CheckupRow:
    key: str
    name: str
    unit: str
    reference: str  # as shown: "≤ 84.9", "18.5–24.9", "(-)"
    cells: tuple[Cell | None, ...]  # one per exam column, None when not measured
    chart: Markup  # empty for qualitative items


@dataclass(frozen=True)
class ExamColumn:
    date: str
    institution: str


@dataclass(frozen=True)
class CheckupTable:
    columns: tuple[ExamColumn, ...]
    rows: tuple[CheckupRow, ...]


_SYMBOLS = {"high": "▲", "low": "▼", "abnormal": "＊"}


def judge(value: str, reference: str) -> str:
    """How a value compares with its reference: "high", "low", "abnormal" or ""."""
    number = numeric_value(value)
    bounds = reference_range(reference)
    if number is not None:
        return bounds.judge(number) if bounds is not None else ""
    if bounds is not None or not value.strip():
        return ""
    if reference.strip():
        return "abnormal" if _qualitative_key(value) != _qualitative_key(reference) else ""
    # Urine tests without a stated range: (-) and (±) are not flagged, (+) and more are.
    return "abnormal" if "+" in unicodedata.normalize("NFKC", value) else ""


def checkup_table(exams: Sequence[CheckupExam], lang: str) -> CheckupTable:
    """Columns oldest to newest, left to right, the way the trend charts run."""
    ordered = sorted(exams, key=lambda e: e.date)
    columns = tuple(ExamColumn(format_date(e.date), e.institution) for e in ordered)
    by_key = [{(i.code or i.name): i for i in exam.items} for exam in ordered]
    # Items in the order of the newest exam, then any only older exams have; the newest
    # name, unit and reference range stand for the row.
    first_seen: dict[str, CheckupItem] = {}
    for items in reversed(by_key):
        for key, item in items.items():
            first_seen.setdefault(key, item)
    rows = []
    for key, newest in first_seen.items():
        name, unit, reference = newest.name, newest.unit, newest.reference
        cells: list[Cell | None] = []
        points: list[tuple[date, float]] = []
        for exam, items in zip(ordered, by_key, strict=True):
            found = items.get(key)
            if found is None:
                cells.append(None)
                continue
            flag = judge(found.value, found.reference or reference)
            note = text(f"cl_{flag}", lang) if flag else ""
            cells.append(Cell(found.value, found.unit, flag, _SYMBOLS.get(flag, ""), note))
            number, day = numeric_value(found.value), parse_yyyymmdd(exam.date)
            if number is not None and day is not None:
                points.append((day, number))
        bounds = reference_range(reference)
        shown = bounds.text() if bounds is not None else reference
        chart = line_chart(
            points, unit=unit, reference=(bounds.low, bounds.high) if bounds else None, label=name
        )
        rows.append(CheckupRow(key, name, unit, shown, tuple(cells), chart))
    return CheckupTable(columns, tuple(rows))
