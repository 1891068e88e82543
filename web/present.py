"""How stored answers and desk states read on the pages: pure functions, both languages.

Every text a page shows is in STRINGS, merged from the strings_* modules that keep each area's
texts beside its code, or comes from web/labels.py (codes and verdicts), so the Japanese and English
versions are kept side by side. The detail page's field tables are in web/detail.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sync.clock import JST
from sync.codes import (
    Verdict,
    is_medical_aid,
    period_over,
    public_expense_kind,
    ratio_percent,
    ticket_current,
    ticket_elsewhere,
    verdict,
)
from sync.store import Confirmation
from sync.xmlmsg import Qualification, QualificationResult
from web import (
    strings_admin,
    strings_appointments,
    strings_auth,
    strings_bulk,
    strings_cardtrust,
    strings_clinical,
    strings_common,
    strings_desk,
    strings_fields,
    strings_kiosk,
    strings_publicexpense,
    strings_reasons,
    strings_recovery,
    strings_setup,
    strings_statement,
    strings_status,
)
from web.labels import (
    LIMIT_CERTIFICATE_CLASSIFICATION,
    LIMIT_CERTIFICATE_FLAG,
    PUBLIC_EXPENSE_KIND,
    PUBLIC_EXPENSE_SHORT,
    Badge,
    consent_kind_text,
    label,
)

LANGUAGES = ("ja", "en")


def _merged(*tables: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    merged: dict[str, tuple[str, str]] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        assert not clash, f"text keys defined twice: {sorted(clash)}"
        merged.update(table)
    return merged


# key → (Japanese, English); a key defined in two areas is a mistake caught at import.
STRINGS = _merged(
    strings_common.STRINGS,
    strings_kiosk.STRINGS,
    strings_desk.STRINGS,
    strings_fields.STRINGS,
    strings_clinical.STRINGS,
    strings_auth.STRINGS,
    strings_admin.STRINGS,
    strings_reasons.STRINGS,
    strings_status.STRINGS,
    strings_statement.STRINGS,
    strings_cardtrust.STRINGS,
    strings_recovery.STRINGS,
    strings_setup.STRINGS,
    strings_appointments.STRINGS,
    strings_publicexpense.STRINGS,
    strings_bulk.STRINGS,
)

# Reader / visit state shown on the reception status strip (device.flow.VisitState values).
DESK_STATES: dict[str, tuple[str, str]] = {
    "idle": ("待機中", "Waiting"),
    "card_placed": ("カードを検出", "Card placed"),
    "reading": ("カード読取中", "Reading card"),
    "cert_read": ("カード読取中", "Reading card"),
    "awaiting_pin": ("暗証番号入力待ち", "Waiting for PIN"),
    "awaiting_staff": ("職員の確認を希望", "Patient asks for staff"),
    "pin_blocked": ("暗証番号ロック", "PIN locked"),
    "awaiting_consent": ("同意の確認中", "Patient answering consent"),
    "signing": ("カード確認中", "Checking card"),
    "confirming": ("照会中", "Querying"),
    "stored": ("確認完了", "Confirmed"),
    "done": ("確認完了", "Confirmed"),
    "offline_done": ("本人確認済・オンライン未確認", "Identity confirmed, not checked online"),
    "aborted": ("中断", "Aborted"),
    "failed": ("失敗", "Failed"),
    "reader_unavailable": ("リーダー未接続", "No reader"),
}

# The kiosk screen for each visit state; aborted/failed come with their own events.
KIOSK_SCREENS: dict[str, str] = {
    "idle": "welcome",
    "card_placed": "reading",
    "reading": "reading",
    "cert_read": "reading",
    "awaiting_pin": "pin",
    "awaiting_staff": "staff",
    "pin_blocked": "blocked",
    "awaiting_consent": "consent",
    "signing": "checking",
    "confirming": "checking",
    "stored": "done",
    "done": "done",
    "offline_done": "offline_done",
}

METHODS: dict[str, tuple[str, str]] = {
    "pin": ("暗証番号", "PIN"),
    "visual": ("目視", "visual"),
    "face": ("顔認証", "face"),
    "numbers": ("保険者番号", "insurance numbers"),
}

# Era name initials and first days (the day the era began).
ERAS: tuple[tuple[str, str, str, date], ...] = (
    ("R", "令和", "Reiwa", date(2019, 5, 1)),
    ("H", "平成", "Heisei", date(1989, 1, 8)),
    ("S", "昭和", "Showa", date(1926, 12, 25)),
    ("T", "大正", "Taisho", date(1912, 7, 30)),
    ("M", "明治", "Meiji", date(1868, 10, 23)),
)


def text(key: str, lang: str, **values: Any) -> str:
    ja, en = STRINGS[key]
    template = en if lang == "en" else ja
    return template.format(**values) if values else template


def pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def reason_text(reason: str, lang: str, *, kiosk: bool = False) -> str:
    """Why a visit or check ended (a device.flow.EndReason), in words for staff or, with
    `kiosk`, for the patient; an unknown code is shown as it is rather than hidden."""
    if kiosk and "kiosk_reason_" + reason in STRINGS:
        return text("kiosk_reason_" + reason, lang)
    pair = STRINGS.get("reason_" + reason)
    return pick(pair, lang) if pair else reason


def desk_state_label(state: str, lang: str) -> str:
    return pick(DESK_STATES.get(state, (state, state)), lang)


def kiosk_screen(state: str) -> str | None:
    """The kiosk screen for a visit state, None when the state brings its own event."""
    return KIOSK_SCREENS.get(state)


def parse_yyyymmdd(value: str) -> date | None:
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def wareki(day: date) -> str:
    """Compact Japanese era form used on insurance documents: 1980-04-01 → "S55"."""
    for initial, _ja, _en, start in ERAS:
        if day >= start:
            return f"{initial}{day.year - start.year + 1}"
    return ""


def format_date(value: str) -> str:
    """YYYYMMDD → YYYY/MM/DD; anything else is shown as given."""
    day = parse_yyyymmdd(value)
    return day.strftime("%Y/%m/%d") if day else value


def format_birthdate(value: str) -> str:
    """ "19800401" → "1980/04/01 (S55)"; unparseable values are shown as given."""
    day = parse_yyyymmdd(value)
    if day is None:
        return value
    era = wareki(day)
    return f"{day:%Y/%m/%d} ({era})" if era else f"{day:%Y/%m/%d}"


def format_ratio(code: str | None, lang: str) -> str:
    """InsuredPartialContributionRatio "030" → "3割" / "30%"; missing or junk → ""."""
    percent = ratio_percent(code)
    if percent is None:
        return ""
    if lang == "en":
        return f"{percent}%"
    if percent % 10 == 0:
        return f"{percent // 10}割"
    return f"{percent}%"


@dataclass(frozen=True)
class RatioText:
    ratio: str  # "3割"
    note: str  # "未就学" when the preschool 2割 applies
    elderly: str  # "高齢受給者 2割" for 70–74 with a recipient certificate


def ratio_text(q: Qualification, lang: str, today: date | None = None) -> RatioText:
    """With `today` (the injected clock's day in Japan), an 高齢受給者 period that has ended
    says so instead of reading as the ratio to charge."""
    note = ("preschool" if lang == "en" else "未就学") if q.preschool else ""
    elderly = ""
    if q.elderly is not None and q.elderly.ratio:
        shown = format_ratio(q.elderly.ratio, lang)
        if shown:
            elderly = f"elderly {shown}" if lang == "en" else f"高齢受給者 {shown}"
            if period_ended(q.elderly.valid_end, today):
                span = date_span(q.elderly.valid_start, q.elderly.valid_end)
                elderly = f"{elderly} {span} ({text('desk_period_expired', lang)})"
    return RatioText(format_ratio(q.contribution_ratio, lang), note, elderly)


def period_ended(valid_end: str, today: date | None) -> bool:
    """Whether a period ending on `valid_end` (YYYYMMDD, its last day) is over by `today`;
    an unknown end or day is not called over."""
    end = parse_yyyymmdd(valid_end)
    return today is not None and end is not None and end < today


def method_label(method: str, lang: str) -> str:
    return pick(METHODS.get(method, (method, method)), lang)


def source_label(source: str, result: QualificationResult, lang: str) -> str:
    """Only this visit's online answer is "confirmed now"; a cached one says when it was."""
    if source == "online":
        return "online now" if lang == "en" else "今回照会"
    when = format_date(result.process_time[:8]) if result.process_time else ""
    if lang == "en":
        return f"previously confirmed {when}".strip()
    return f"前回確認 {when}".strip()


def numbers_text(symbol: str, number: str, branch: str) -> str:
    return "・".join(part for part in (symbol, number, branch) if part)


def consent_text(q: Qualification | None, lang: str) -> str:
    """The consent flags a result carries, e.g. "薬剤情報 ✓〜11/23 10:30 ・ 特定健診情報 ✗"."""
    if q is None:
        return ""
    parts = []
    for state in q.consents:
        name = consent_kind_text(state.kind, lang)
        if state.flag == "1":
            until = _jst_stamp(state.available_time)
            parts.append(f"{name} ✓" + (f"〜{until}" if until else ""))
        else:
            parts.append(f"{name} ✗")
    return " ・ ".join(parts)


def _jst_stamp(value: str) -> str:
    """YYYYMMDDHHmmss (JST) → "11/23 10:30"; anything else → ""."""
    if len(value) != 14 or not value.isdigit():
        return ""
    return f"{value[4:6]}/{value[6:8]} {value[8:10]}:{value[10:12]}"


def confirmation_row(
    c: Confirmation,
    lang: str,
    staff: str = "",
    earlier: Confirmation | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """One reception table row, formatted for display, with the raw codes beside it.
    `staff` names who confirmed a 目視確認 visit. A visit kept offline (`c.offline`) has no
    answer of its own: it shows `earlier` (its 前回確認, by `c.earlier_id`) with its date and
    age, under the offline badge, never as today's answer. `today` (the injected clock's day
    in Japan) marks 限度額 and 高齢受給者 periods that have ended."""
    result = earlier.summary if c.offline and earlier is not None else c.summary
    first = result.results[0] if result.results else None
    shown_verdict = Verdict.OFFLINE if c.offline else verdict(result)
    shown_badge = Badge.of(shown_verdict)
    search = result.search
    if first is not None:
        ratio = ratio_text(first, lang, today)
        name, kana, birth = first.name, first.name_kana, first.birthdate
        insurer_number, insurer_name = first.insurer_number, first.insurer_name
        symbol, number, branch = first.symbol, first.number, first.branch
    else:
        # No qualification found: show what was asked so staff can spot a typo.
        ratio = RatioText("", "", "")
        name = kana = insurer_name = ""
        birth = search.birthdate if search else ""
        insurer_number = search.insurer_number if search else ""
        symbol = search.symbol if search else ""
        number = search.number if search else ""
        branch = search.branch if search else ""
    error = ""
    if result.segment_of_result == "9" or result.error_code or result.error_message:
        error = " ".join(p for p in (result.error_code, result.error_message) if p)
    message = result.processing_message
    source = source_label(c.source, result, lang)
    if c.offline:
        message, source = _offline_texts(c, earlier, lang)
    more = len(result.results) - 1
    limit = limit_text(first, lang, today)
    public = public_expense_marks(first, lang, today)
    time = c.created_at.astimezone(JST).strftime("%H:%M")
    elderly_expired = (
        first is not None
        and first.elderly is not None
        and bool(ratio.elderly)
        and period_ended(first.elderly.valid_end, today)
    )
    # A card visit that named nobody (not found, refused, kept offline with nothing known):
    # which visit it was, so the clerk can find the patient; it can be checked by numbers.
    nameless_card = c.kind == "card" and not name
    visit_note = ""
    if nameless_card:
        visit_note = text(
            "desk_visit_note",
            lang,
            time=time,
            method=method_label(c.method, lang),
            state=shown_badge.en if lang == "en" else shown_badge.ja,
        )
    return {
        "id": c.id,
        "created_at": c.created_at.isoformat(),
        "time": time,
        "visit_note": visit_note,
        "date": c.created_at.astimezone(JST).strftime("%Y/%m/%d"),
        "name": name,
        "kana": kana,
        "birthdate": format_birthdate(birth),
        "insurer_number": insurer_number.strip(),
        "insurer_name": insurer_name,
        "numbers": numbers_text(symbol, number, branch),
        "symbol": symbol,
        "number": number,
        "branch": branch,
        "ratio": ratio.ratio,
        "ratio_note": ratio.note,
        "elderly_ratio": ratio.elderly,
        "limit": limit.text,
        "limit_title": limit.title,
        "limit_expired": limit.expired,
        "elderly_expired": elderly_expired,
        "public_expense": public.text,
        "public_expense_title": public.title,
        "public_expense_warning": public.warning,
        "url": f"/confirmations/{c.id}",
        "badge": {
            "code": shown_verdict.name,
            "label": shown_badge.en if lang == "en" else shown_badge.ja,
            "css": shown_badge.css,
        },
        "message": message,
        "error": error,
        "more": text("other_results", lang, n=more) if more > 0 else "",
        "method": method_label(c.method, lang) + (f" ({staff})" if staff else ""),
        # An offline visit registered no consent: the earlier answer's is not this visit's.
        "consent": "" if c.offline else consent_text(first, lang),
        "source": source,
        "earlier_url": f"/confirmations/{earlier.id}" if c.offline and earlier else "",
        # 再照会 asks by numbers: offered only where there are numbers to ask with.
        "can_recheck": bool(insurer_number.strip() and number and birth),
        # A card visit with nothing known (kept offline without 前回確認, not found, refused):
        # check it by numbers, linked to the card.
        "numbers_for_visit": (c.offline and earlier is None) or (nameless_card and not c.offline),
        "raw": {
            "kind": c.kind,
            "method": c.method,
            "source": c.source,
            "segment_of_result": result.segment_of_result,
            "processing_status": result.processing_status,
            "processing_code": result.processing_code,
            "validity": result.validity,
            "error_code": result.error_code,
            "error_message": result.error_message,
            "birthdate": birth,
            "card_classification": first.card_classification if first else "",
            "contribution_ratio": first.contribution_ratio if first else "",
            "preschool": first.preschool if first else False,
            "elderly_ratio": first.elderly.ratio if first and first.elderly else "",
            "limit_classification": first.limit.classification if first and first.limit else "",
            "limit_flag": first.limit.flag if first and first.limit else "",
            "result_count": len(result.results),
        },
    }


def _offline_texts(c: Confirmation, earlier: Confirmation | None, lang: str) -> tuple[str, str]:
    """(what to do, where the shown answer comes from) for a visit kept offline."""
    if earlier is None:
        return text("offline_none", lang), text("offline_source_none", lang)
    days = (c.created_at.astimezone(JST).date() - earlier.created_at.astimezone(JST).date()).days
    age = text("age_today", lang) if days <= 0 else text("age_days", lang, n=days)
    when = earlier.created_at.astimezone(JST).strftime("%Y/%m/%d")
    first = earlier.summary.results[0] if earlier.summary.results else None
    has_numbers = first is not None and bool(first.insurer_number and first.number)
    todo = text("offline_earlier" if has_numbers else "offline_earlier_no_numbers", lang)
    return todo, text("offline_source", lang, date=when, age=age)


def earlier_summary(earlier: Confirmation, now: datetime, lang: str) -> str:
    """One line on a 前回確認 shown while the central is unreachable: when, how long ago, what
    it said and the ratio to charge."""
    days = (now.astimezone(JST).date() - earlier.created_at.astimezone(JST).date()).days
    age = text("age_today", lang) if days <= 0 else text("age_days", lang, n=days)
    first = earlier.summary.results[0] if earlier.summary.results else None
    badge = Badge.of(verdict(earlier.summary))
    return text(
        "desk_check_earlier",
        lang,
        date=earlier.created_at.astimezone(JST).strftime("%Y/%m/%d"),
        age=age,
        verdict=badge.en if lang == "en" else badge.ja,
        ratio=format_ratio(first.contribution_ratio, lang) if first else "—",
    )


def jst_timestamp(iso: str) -> str:
    """A stored instant (ISO 8601) as the clinic reads it: "2026/04/01 10:30:05" in Japan time."""
    try:
        return datetime.fromisoformat(iso).astimezone(JST).strftime("%Y/%m/%d %H:%M:%S")
    except ValueError:
        return iso


def start_of_today(now: datetime) -> datetime:
    """Midnight of the clinic's day (JST) containing `now`, as an aware datetime."""
    local = now.astimezone(JST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


# -- 限度額 in a desk row --------------------------------------------------------------------
@dataclass(frozen=True)
class LimitText:
    text: str  # "限度額 ウ 2025/08/01〜2026/07/31"
    title: str  # the certificate's full name, for a tooltip
    expired: bool = False  # its period ended before today: shown as such, not as current


def date_span(start: str, end: str) -> str:
    """ "20250801", "20260731" → "2025/08/01〜2026/07/31"; either side may be missing."""
    if not start and not end:
        return ""
    return f"{format_date(start)}〜{format_date(end)}"


def limit_text(q: Qualification | None, lang: str, today: date | None = None) -> LimitText:
    if q is None or q.limit is None:
        return LimitText("", "")
    limit = q.limit
    flag = label(LIMIT_CERTIFICATE_FLAG, limit.flag, lang) if limit.flag else ""
    if lang == "en" and flag:
        flag = flag.split(" (", 1)[0]  # the income band is in the tooltip, not the cell
    title = label(LIMIT_CERTIFICATE_CLASSIFICATION, limit.classification, lang)
    if lang == "en" and limit.flag in LIMIT_CERTIFICATE_FLAG:
        title = f"{title}: {LIMIT_CERTIFICATE_FLAG[limit.flag].en}"
    parts = [text("desk_limit", lang), flag, date_span(limit.valid_start, limit.valid_end)]
    expired = period_ended(limit.valid_end, today)
    if expired:
        parts.append(f"({text('desk_period_expired', lang)})")
    return LimitText(" ".join(p for p in parts if p), title, expired)


# -- 公費 and 医療扶助 in a desk row -----------------------------------------------------------
@dataclass(frozen=True)
class PublicExpenseMarks:
    text: str  # "医療扶助" / "公費 難病": the compact marker
    title: str  # the numbers and periods, for a tooltip
    warning: str  # "医療券：指定医療機関 不一致", "医療券 期限切れ" …; "" when nothing to heed


def public_expense_marks(
    q: Qualification | None, lang: str, today: date | None = None
) -> PublicExpenseMarks:
    if q is None:
        return PublicExpenseMarks("", "", "")
    aid = is_medical_aid(q)
    parts: list[str] = [text("pe_row_aid", lang)] if aid else []
    kinds = dict.fromkeys(public_expense_kind(e.number) for e in q.public_expenses)
    if kinds:
        shorts = "・".join(pick(PUBLIC_EXPENSE_SHORT[k], lang) for k in kinds)
        parts.append(text("pe_row_expense", lang, kinds=shorts))
    titles = [
        text(
            "pe_row_title",
            lang,
            kind=pick(PUBLIC_EXPENSE_KIND[public_expense_kind(e.number)], lang),
            number=e.number,
            recipient=e.recipient,
            period=date_span(e.valid_start, e.valid_end),
        ).strip()
        for e in q.public_expenses
    ]
    warnings: list[str] = []
    if aid:
        if any(ticket_elsewhere(t) for t in q.medical_tickets):
            warnings.append(text("pe_row_elsewhere", lang))
        if not q.medical_tickets:
            warnings.append(text("pe_row_no_ticket", lang))
        elif not any(ticket_current(t, today) for t in q.medical_tickets):
            warnings.append(text("pe_row_ticket_expired", lang))
    if any(period_over(e.valid_end, today) for e in q.public_expenses):
        warnings.append(text("pe_row_expense_expired", lang))
    return PublicExpenseMarks(" ・ ".join(parts), " / ".join(titles), " ・ ".join(warnings))
