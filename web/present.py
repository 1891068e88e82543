"""How stored answers and desk states read on the pages: pure functions, both languages.

Every text a page shows lives here (STRINGS) or comes from sync.codes / device.flow, so the
Japanese and English versions are kept side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sync.clock import JST
from sync.codes import CONSENT_KIND, badge, label, ratio_percent
from sync.store import Confirmation
from sync.xmlmsg import Qualification, QualificationResult
from web import strings_auth, strings_clinical

LANGUAGES = ("ja", "en")

# key → (Japanese, English); the clinical and login pages keep theirs beside their code.
_STRINGS: dict[str, tuple[str, str]] = {
    "app_name": ("オンライン資格確認", "Eligibility check"),
    "reception_title": ("受付 — 本日の資格確認", "Reception — today's confirmations"),
    "reader": ("カードリーダー", "Card reader"),
    "today": ("本日", "Today"),
    "col_time": ("時刻", "Time"),
    "col_name": ("氏名", "Name"),
    "col_birthdate": ("生年月日", "Date of birth"),
    "col_insurer": ("保険者", "Insurer"),
    "col_numbers": ("記号・番号・枝番", "Symbol · number · branch"),
    "col_ratio": ("負担割合", "Co-payment"),
    "col_validity": ("資格", "Eligibility"),
    "col_message": ("結果メッセージ", "Message"),
    "col_method": ("本人確認", "Identity check"),
    "col_source": ("照会", "Source"),
    "no_rows": ("本日の資格確認はまだありません", "No confirmations yet today"),
    "visual_check": ("目視確認で進める", "Confirm visually (目視確認)"),
    "visual_hint": (
        "カードの顔写真と患者さんを見比べてから押してください",
        "Compare the card's photo with the patient before pressing",
    ),
    "alert_blocked": (
        "暗証番号がロックされています。カードの顔写真で本人を確認し、目視確認で進めてください",
        "The PIN is locked. Check the patient against the card's photo and confirm visually",
    ),
    "alert_help": (
        "患者さんが職員の確認を希望しています。カードの顔写真で本人を確認してください",
        "The patient asks for staff. Check the patient against the card's photo",
    ),
    "visual_by": ("目視確認: {staff}", "Visual check by {staff}"),
    "visual_refused": (
        "この来院は目視確認に切り替えられません（すでに次の手順に進んでいます）",
        "This visit can no longer be switched to a visual check (it has moved on)",
    ),
    "live_lost": ("接続が切れました。再接続しています…", "Connection lost. Reconnecting…"),
    "other_results": ("他 {n} 件", "{n} more"),
    "language_switch": ("English", "日本語"),
    "sandbox_link": ("デモ用カード", "Demo cards"),
    "reception_link": ("受付画面", "Reception"),
    # kiosk
    "kiosk_title": ("資格確認", "Eligibility check"),
    "welcome": ("カードを置いてください", "Please place your card"),
    "welcome_sub": (
        "マイナンバーカードを読み取り機に置いてください",
        "Place your My Number card on the reader",
    ),
    "reading": ("カードを読み取っています", "Reading your card"),
    "reading_sub": ("カードを置いたままお待ちください", "Please leave the card in place"),
    "pin_title": ("暗証番号（数字4桁）を入力してください", "Enter your 4-digit PIN"),
    "pin_tries": ("残り {n} 回", "Tries left: {n}"),
    "pin_wrong": ("暗証番号が違います。", "The PIN is wrong."),
    "pin_last_try": (
        "あと1回間違えるとロックされます。分からない場合は受付にお声がけください",
        "One more wrong PIN locks the card. If you are not sure, please ask the reception",
    ),
    "pin_back": ("訂正", "Delete"),
    "pin_ok": ("確定", "OK"),
    "pin_digits": ("入力した桁数", "Digits entered"),
    "checking": ("確認しています", "Checking"),
    "checking_sub": (
        "しばらくお待ちください。カードはまだ取らないでください",
        "Please wait. Do not take the card yet",
    ),
    "done": ("確認が終わりました", "Done"),
    "done_sub": ("カードをお取りください", "Please take your card"),
    "blocked": ("暗証番号がロックされています", "The PIN is locked"),
    "blocked_sub": (
        "ロックはお住まいの市区町村の窓口で解除できます。"
        "今日の受付は、職員による目視確認でも行えます。受付にお声がけください",
        "Your city office can unlock it. Today, the reception staff can confirm you visually. "
        "Please talk to the reception",
    ),
    "blocked_take": (
        "カードは置いたまま、受付にお声がけください",
        "Please leave the card on the reader and talk to the reception",
    ),
    "ask_staff": ("受付の職員に確認してもらう", "Ask the staff to confirm instead"),
    "staff": ("受付の職員が確認します", "A member of staff will confirm"),
    "staff_sub": (
        "カードは置いたまま、少しお待ちください。受付にもお知らせしました",
        "Please leave the card on the reader and wait a moment. The reception has been told",
    ),
    "consent_title": ("情報の提供に同意しますか", "Do you agree to share your information?"),
    "consent_sub": (
        "同意すると、この医療機関の医師・薬剤師が本日から24時間、次の情報を診療に使えます",
        "If you agree, this clinic's doctors and pharmacists can use the information below "
        "for your care for the next 24 hours",
    ),
    "consent_all": ("すべて同意する", "Agree to all"),
    "consent_each": ("個別に選ぶ", "Choose one by one"),
    "consent_yes": ("同意する", "Agree"),
    "consent_no": ("同意しない", "Do not agree"),
    "consent_submit": ("決定", "Confirm"),
    "consent_back": ("戻る", "Back"),
    "consent_note": (
        "同意しなくても受診できます。同意は24時間で自動的に終わります",
        "You can see the doctor either way. Consent ends by itself after 24 hours",
    ),
    "consent_desc_drug": (
        "これまでに処方・調剤されたお薬の情報",
        "Medicines prescribed and dispensed to you",
    ),
    "consent_desc_checkup": (
        "特定健診（メタボ健診）などの結果",
        "Results of your specific health checkups",
    ),
    "consent_desc_diagnosis": ("これまでの診療や検査の情報", "Your past treatments and tests"),
    "consent_desc_surgery": ("これまでの手術の情報", "Your past surgeries"),
    "error": ("確認できませんでした", "The check could not be completed"),
    "error_sub": ("受付にお声がけください", "Please talk to the reception"),
    # sandbox
    "sandbox_title": ("デモ用: 仮想カード", "Demo: virtual cards"),
    "demo_only": ("デモ専用 — 実際の医療機関では使えません", "Demo only — never on a real clinic"),
    "col_id": ("ID", "ID"),
    "col_kana": ("カナ", "Kana"),
    "col_scenario": ("シナリオ", "Scenario"),
    "col_pin": ("デモ用暗証番号", "Demo PIN"),
    "place": ("置く", "Place"),
    "placed": ("置いています", "Placed"),
    "remove": ("カードを取る", "Remove card"),
    "placed_now": ("現在置いているカード", "Card on the reader"),
    "none_placed": ("なし", "none"),
    "no_card": ("カードなし（資格確認書）", "no card (qualification certificate)"),
    "kiosk_link": ("患者用画面（キオスク）", "Patient screen (kiosk)"),
    # errors
    "error_400": ("リクエストが正しくありません", "Bad request"),
    "error_404": ("ページが見つかりません", "Page not found"),
    "error_405": ("この操作はできません", "Method not allowed"),
    "error_409": ("現在この操作はできません", "Not possible right now"),
    "error_413": ("データが大きすぎます", "Request too large"),
    "error_415": ("形式が正しくありません", "Unsupported content type"),
    "error_500": (
        "内部エラーが発生しました。しばらくしてから再度お試しください",
        "Internal error. Please try again shortly",
    ),
    "back_home": ("最初の画面へ", "Back to the start"),
}


def _merged(*tables: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    merged: dict[str, tuple[str, str]] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        assert not clash, f"text keys defined twice: {sorted(clash)}"
        merged.update(table)
    return merged


STRINGS = _merged(_STRINGS, strings_clinical.STRINGS, strings_auth.STRINGS)

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


def ratio_text(q: Qualification, lang: str) -> RatioText:
    note = ("preschool" if lang == "en" else "未就学") if q.preschool else ""
    elderly = ""
    if q.elderly is not None and q.elderly.ratio:
        shown = format_ratio(q.elderly.ratio, lang)
        if shown:
            elderly = f"elderly {shown}" if lang == "en" else f"高齢受給者 {shown}"
    return RatioText(format_ratio(q.contribution_ratio, lang), note, elderly)


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
        name = label(CONSENT_KIND, state.kind, lang)
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


def confirmation_row(c: Confirmation, lang: str, staff: str = "") -> dict[str, Any]:
    """One reception table row, formatted for display, with the raw codes beside it.
    `staff` names who confirmed a 目視確認 visit."""
    result = c.result
    first = result.results[0] if result.results else None
    shown_badge = badge(result)
    search = result.search
    if first is not None:
        ratio = ratio_text(first, lang)
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
    more = len(result.results) - 1
    return {
        "id": c.id,
        "created_at": c.created_at.isoformat(),
        "time": c.created_at.astimezone(JST).strftime("%H:%M"),
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
        "badge": {
            "code": shown_badge.name,
            "label": shown_badge.en if lang == "en" else shown_badge.ja,
            "css": shown_badge.css,
        },
        "message": result.processing_message,
        "error": error,
        "more": text("other_results", lang, n=more) if more > 0 else "",
        "method": method_label(c.method, lang) + (f" ({staff})" if staff else ""),
        "consent": consent_text(first, lang),
        "source": source_label(c.source, result, lang),
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
            "result_count": len(result.results),
        },
    }


def start_of_today(now: datetime) -> datetime:
    """Midnight of the clinic's day (JST) containing `now`, as an aware datetime."""
    local = now.astimezone(JST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)
