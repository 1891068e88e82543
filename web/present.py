"""How stored answers and desk states read on the pages: pure functions, both languages.

Every text a page shows lives here (STRINGS) or comes from sync.codes / device.flow, so the
Japanese and English versions are kept side by side.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sync.clock import JST
from sync.codes import (
    CONSENT_KIND,
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
    badge,
    label,
    ratio_percent,
)
from sync.store import AuditEntry, Confirmation
from sync.xmldoc import parse_document
from sync.xmlmsg import Qualification, QualificationResult
from web import strings_admin, strings_auth, strings_clinical

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
    # reception desk: manual checks, re-check, search, detail page
    "desk_check_title": ("保険者番号で照会", "Check by insurance numbers"),
    "desk_insurer_number": ("保険者番号", "Insurer number"),
    "desk_symbol": ("記号", "Symbol"),
    "desk_number": ("番号", "Number"),
    "desk_branch": ("枝番", "Branch"),
    "desk_birthdate": ("生年月日", "Date of birth"),
    "desk_birthdate_placeholder": ("例: S45.12.3 / 1970-12-03", "e.g. S45.12.3 / 1970-12-03"),
    "desk_care_date": ("診療日", "Date of care"),
    "desk_limit_consent": ("限度額情報の提供に同意", "Agrees to share cost-cap information"),
    "desk_submit": ("照会", "Check"),
    "desk_checking": ("照会中…", "Checking…"),
    "desk_check_done": ("照会結果を一覧に追加しました", "The answer was added to the list"),
    "desk_network_error": (
        "通信に失敗しました。もう一度お試しください",
        "The request did not get through. Please try again",
    ),
    "desk_input_error": ("入力内容を確認してください", "Please check the highlighted fields"),
    "desk_recheck": ("再照会", "Re-check"),
    "desk_recheck_hint": (
        "同じ保険者番号・生年月日で本日付けで照会し直します",
        "Ask again today with the same insurance numbers and birth date",
    ),
    "desk_detail": ("詳細", "Details"),
    "desk_col_actions": ("操作", "Actions"),
    "desk_limit": ("限度額", "Cost cap"),
    "desk_search": ("検索", "Search"),
    "desk_search_label": ("資格確認の検索", "Search confirmations"),
    "desk_search_placeholder": (
        "カナ氏名・生年月日・保険者番号 記号 番号",
        "Kana name, birth date or insurer symbol number",
    ),
    "desk_search_title": ("資格確認の検索", "Search confirmations"),
    "desk_search_hint": (
        "カナ氏名（ひらがな可）、生年月日（S45.12.3 など）、"
        "または「保険者番号 記号 番号」で検索できます。新しい順に最大50件",
        "Search by kana name (hiragana works too), birth date (e.g. S45.12.3) or "
        '"insurer symbol number". Newest first, up to 50',
    ),
    "desk_search_kind_kana": ("カナ氏名", "kana name"),
    "desk_search_kind_birthdate": ("生年月日", "birth date"),
    "desk_search_kind_numbers": ("保険者番号・記号・番号", "insurance numbers"),
    "desk_search_found": ("{kind}で {n} 件", "{n} found by {kind}"),
    "desk_search_none": ("該当する資格確認はありません", "No confirmations match"),
    "desk_search_unknown": (
        "検索語を認識できません。"
        "カナ氏名・生年月日・「保険者番号 記号 番号」のいずれかを入力してください",
        'The search was not recognised. Enter a kana name, a birth date or "insurer symbol number"',
    ),
    "desk_search_numbers_short": (
        "保険者番号と番号（記号があれば記号も）を空白で区切って入力してください",
        "Enter the insurer number and the number (and the symbol, if any) separated by spaces",
    ),
    "desk_detail_title": ("資格確認の詳細", "Confirmation details"),
    "desk_back": ("受付画面へ戻る", "Back to reception"),
    "desk_section_summary": ("概要", "Summary"),
    "desk_section_header": ("応答ヘッダー・処理結果", "Answer header and outcome"),
    "desk_section_search": ("照会した内容", "What was asked"),
    "desk_section_qualification": ("資格情報 {n}", "Qualification {n}"),
    "desk_section_elderly": ("高齢受給者証", "Elderly recipient certificate"),
    "desk_section_limit": ("限度額適用認定証", "Cost-cap certificate"),
    "desk_section_diseases": ("特定疾病療養受療証", "Specific disease certificate"),
    "desk_section_consent": ("同意", "Consent"),
    "desk_section_raw": ("応答XML（管理者のみ）", "Answer XML (admin only)"),
    "desk_section_audit": ("この資格確認の記録", "Audit trail of this confirmation"),
    "desk_no_qualification": ("資格情報はありません", "No qualification in the answer"),
    "desk_audit_at": ("日時", "When"),
    "desk_audit_actor": ("利用者", "Who"),
    "desk_audit_action": ("操作", "What"),
    "desk_audit_detail": ("内容", "Detail"),
    "desk_yes": ("あり", "yes"),
    "desk_no": ("なし", "no"),
    "desk_consent_yes": ("同意", "agreed"),
    "desk_consent_no": ("不同意", "not agreed"),
    "desk_consent_until": ("有効期限 {until}", "until {until}"),
    "desk_consent_at": ("同意日時 {at}", "given {at}"),
    # field labels of the detail page
    "desk_kind_card": ("マイナンバーカード", "My Number card"),
    "desk_kind_numbers": ("保険者番号", "insurance numbers"),
    "desk_f_badge": ("資格", "Eligibility"),
    "desk_f_created_at": ("記録日時", "Recorded"),
    "desk_f_kind": ("確認の種類", "Kind of check"),
    "desk_f_method": ("本人確認", "Identity check"),
    "desk_f_source": ("照会", "Source"),
    "desk_f_visit": ("来院ID", "Visit id"),
    "desk_f_process_time": ("処理実行日時", "Processed at"),
    "desk_f_confirmation_date": ("資格確認日", "Date confirmed for"),
    "desk_f_medical_institution_code": ("医療機関コード", "Medical institution code"),
    "desk_f_file_id": ("ファイル識別子", "File identifier"),
    "desk_f_reference_classification": ("照会区分", "Reference classification"),
    "desk_f_segment_of_result": ("処理結果区分", "Segment of result"),
    "desk_f_error_code": ("エラーコード", "Error code"),
    "desk_f_error_message": ("エラーメッセージ", "Error message"),
    "desk_f_character_code": ("文字コード識別", "Character code"),
    "desk_f_processing_status": ("処理結果状況", "Processing status"),
    "desk_f_processing_code": ("処理結果コード", "Processing code"),
    "desk_f_processing_message": ("処理結果メッセージ", "Processing message"),
    "desk_f_validity": ("資格有効性", "Qualification validity"),
    "desk_f_prescription": ("処方箋発行形態", "Prescription issued as"),
    "desk_f_card_classification": ("被保険者証区分", "Card classification"),
    "desk_f_insurer_number": ("保険者番号", "Insurer number"),
    "desk_f_insurer_name": ("保険者名", "Insurer"),
    "desk_f_symbol": ("記号", "Symbol"),
    "desk_f_number": ("番号", "Number"),
    "desk_f_branch": ("枝番", "Branch"),
    "desk_f_personal_family": ("本人・家族", "Insured person or family"),
    "desk_f_insured_name": ("被保険者氏名", "Name of the insured"),
    "desk_f_name": ("氏名", "Name"),
    "desk_f_name_of_other": ("氏名（その他）", "Other name"),
    "desk_f_name_kana": ("氏名カナ", "Name (kana)"),
    "desk_f_name_of_other_kana": ("氏名カナ（その他）", "Other name (kana)"),
    "desk_f_sex": ("性別", "Sex"),
    "desk_f_birthdate": ("生年月日", "Date of birth"),
    "desk_f_address": ("住所", "Address"),
    "desk_f_post_number": ("郵便番号", "Postal code"),
    "desk_f_qualification_date": ("資格取得日", "Qualified since"),
    "desk_f_disqualification_date": ("資格喪失日", "Qualification lost on"),
    "desk_f_reason_of_loss": ("喪失事由", "Reason of loss"),
    "desk_f_certificate_issuance_date": ("証交付年月日", "Certificate issued"),
    "desk_f_card_valid_date": ("有効開始日", "Valid from"),
    "desk_f_card_expiration_date": ("有効終了日", "Valid until"),
    "desk_f_contribution_ratio": ("一部負担金割合", "Co-payment"),
    "desk_f_preschool": ("未就学区分", "Preschool"),
    "desk_f_reference_number": ("照会番号", "Reference number"),
    "desk_f_limit_consent": ("限度額情報の提供同意", "Cost-cap information consent"),
    "desk_f_issue_date": ("交付年月日", "Issued"),
    "desk_f_valid_start": ("有効開始日", "Valid from"),
    "desk_f_valid_end": ("有効終了日", "Valid until"),
    "desk_f_ratio": ("負担割合", "Co-payment"),
    "desk_f_limit_classification": ("認定証区分", "Certificate"),
    "desk_f_limit_flag": ("適用区分", "Income category"),
    "desk_f_disease": ("対象疾病", "Disease"),
    # audit actions shown in a confirmation's trail
    "desk_action_confirmation.stored": ("保存", "stored"),
    "desk_action_confirmation.view": ("閲覧", "viewed"),
    "desk_action_confirmation.raw": ("応答XMLを閲覧", "viewed the answer XML"),
}


def _merged(*tables: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    merged: dict[str, tuple[str, str]] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        assert not clash, f"text keys defined twice: {sorted(clash)}"
        merged.update(table)
    return merged


STRINGS = _merged(_STRINGS, strings_clinical.STRINGS, strings_auth.STRINGS, strings_admin.STRINGS)

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
    limit = limit_text(first, lang)
    return {
        "id": c.id,
        "created_at": c.created_at.isoformat(),
        "time": c.created_at.astimezone(JST).strftime("%H:%M"),
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
        "url": f"/confirmations/{c.id}",
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
            "limit_classification": first.limit.classification if first and first.limit else "",
            "limit_flag": first.limit.flag if first and first.limit else "",
            "result_count": len(result.results),
        },
    }


def start_of_today(now: datetime) -> datetime:
    """Midnight of the clinic's day (JST) containing `now`, as an aware datetime."""
    local = now.astimezone(JST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


# -- the desk: 限度額 in a row, the detail page, the raw answer --------------------------------
@dataclass(frozen=True)
class LimitText:
    text: str  # "限度額 ウ 2025/08/01〜2026/07/31"
    title: str  # the certificate's full name, for a tooltip


def date_span(start: str, end: str) -> str:
    """ "20250801", "20260731" → "2025/08/01〜2026/07/31"; either side may be missing."""
    if not start and not end:
        return ""
    return f"{format_date(start)}〜{format_date(end)}"


def limit_text(q: Qualification | None, lang: str) -> LimitText:
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
    return LimitText(" ".join(p for p in parts if p), title)


Field = tuple[str, str]  # (label, value) as shown


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class QualificationView:
    title: str
    fields: tuple[Field, ...]
    extra: tuple[Section, ...]  # elderly, 限度額, specific diseases, consent


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


def _qualification_view(q: Qualification, index: int, lang: str) -> QualificationView:
    ratio = ratio_text(q, lang)
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
                        ("valid_end", format_date(q.elderly.valid_end)),
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
                        ("valid_end", format_date(q.limit.valid_end)),
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
            consent_fields.append((label(CONSENT_KIND, state.kind, lang), " ・ ".join(parts)))
        extra.append(Section(text("desk_section_consent", lang), tuple(consent_fields)))
    return QualificationView(
        text("desk_section_qualification", lang, n=index), fields, tuple(extra)
    )


def confirmation_detail(c: Confirmation, lang: str, staff: str = "") -> ConfirmationDetail:
    """Every field of a stored answer, labelled, for the detail page."""
    result = c.result
    row = confirmation_row(c, lang, staff)
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
        tuple(_qualification_view(q, n, lang) for n, q in enumerate(result.results, start=1)),
    )


@dataclass(frozen=True)
class AuditLine:
    at: str  # JST, "2026/04/01 10:30:05"
    actor: str
    action: str  # labelled
    detail: str


def audit_lines(entries: list[AuditEntry], lang: str) -> list[AuditLine]:
    lines = []
    for entry in entries:
        key = f"desk_action_{entry.action}"
        action = text(key, lang) if key in STRINGS else entry.action
        try:
            at = datetime.fromisoformat(entry.at).astimezone(JST).strftime("%Y/%m/%d %H:%M:%S")
        except ValueError:
            at = entry.at
        lines.append(AuditLine(at, entry.actor, action, entry.detail))
    return lines


def pretty_xml(raw: bytes) -> str:
    """The answer document indented for reading (the page escapes it); parsed safely first."""
    element = copy.deepcopy(parse_document(raw).element)
    ET.indent(element)
    return ET.tostring(element, encoding="unicode")
