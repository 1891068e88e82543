"""Texts of the clinical (doctor) pages: key → (Japanese, English); merged into present.STRINGS."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "clinical_link": ("診療情報", "Clinical"),
    # patient list
    "cl_list_title": ("診療情報 — 過去24時間の患者", "Clinical — patients of the last 24 hours"),
    "cl_list_intro": (
        "患者さんが同意した情報だけを、同意から24時間閲覧できます。",
        "Only what the patient agreed to share can be viewed, for 24 hours after consent.",
    ),
    "cl_col_age": ("年齢", "Age"),
    "cl_age": ("{n}歳", "{n} y"),
    "cl_empty": (
        "過去24時間の資格確認はありません。カードの読み取りまたは保険者番号での確認の後に表示されます",
        "No confirmations in the last 24 hours. Patients appear here after a card read "
        "or an insurance-number check",
    ),
    "cl_consent_valid": ("同意あり 〜{until}", "Consent until {until}"),
    "cl_consent_refused": ("同意なし", "No consent"),
    "cl_consent_expired": ("期限切れ", "Expired"),
    "cl_consent_not_asked": ("未確認", "Not asked"),
    "cl_back_list": ("患者一覧へ", "Patient list"),
    # patient header
    "cl_sex": ("性別", "Sex"),
    "cl_consent_until": ("同意の有効期限", "Consent valid until"),
    "cl_source": ("取得", "Source"),
    "cl_source_online": ("今回照会", "online now"),
    "cl_source_cache": ("取得済み {time}", "cached at {time}"),
    "cl_period": ("照会期間 {start}〜{end}", "Period {start} – {end}"),
    "cl_claims_lag": (
        "レセプト（請求）に基づく情報のため、直近の約1か月分はまだ含まれません",
        "Based on claims: the most recent month or so is not included yet",
    ),
    # drug page
    "cl_drug_title": ("薬剤情報", "Drug information"),
    "cl_views": ("この患者さんの情報", "This patient's records"),
    "cl_print_hint": ("印刷用に整えて印刷できます（Ctrl+P）", "Prints in a print layout (Ctrl+P)"),
    "cl_lines_title": ("服用期間（薬剤ごと）", "Periods per medicine"),
    "cl_lines_legend": (
        "1行が1つの薬剤です。帯は調剤日から処方日数分の期間（14日以内の間隔はつなげて表示）。"
        "濃い帯は直近の調剤月にも出ている薬剤です",
        "One line per medicine. A bar runs from the dispensing day for the days supplied "
        "(gaps of up to 14 days are joined). Dark bars: also dispensed in the latest month",
    ),
    "cl_now": ("継続中", "current"),
    "cl_summary_title": (
        "現在の服用薬（データ上の直近3か月）",
        "Current medicines (last 3 months of the data)",
    ),
    "cl_summary_last": ("最終調剤日", "Last dispensed"),
    "cl_summary_count": ("回数", "Times"),
    "cl_timeline_title": ("月ごとの調剤（新しい順）", "Dispensings by month (newest first)"),
    "cl_dispensed_on": ("調剤日", "Dispensed"),
    "cl_pharmacy": ("調剤", "Dispensed by"),
    "cl_prescriber": ("処方", "Prescribed by"),
    "cl_drug_name": ("薬剤名", "Drug"),
    "cl_ingredient": ("成分名", "Ingredient"),
    "cl_quantity": ("1日量", "Daily amount"),
    "cl_usage": ("用法", "Usage"),
    "cl_days": ("日数・回数", "Days"),
    "cl_no_drugs": (
        "この期間の薬剤情報はありません",
        "No drug information in this period",
    ),
    # checkup page
    "cl_checkup_title": ("特定健診情報", "Specific health checkups"),
    "cl_item": ("検査項目", "Item"),
    "cl_reference": ("基準範囲", "Reference range"),
    "cl_trend": ("推移", "Trend"),
    "cl_examined_at": ("実施機関", "Examined at"),
    "cl_no_checkups": (
        "この期間の特定健診情報はありません（特定健診は40〜74歳が対象です）",
        "No checkup information in this period (specific checkups are for ages 40–74)",
    ),
    "cl_high": ("基準範囲より高い", "above the reference range"),
    "cl_low": ("基準範囲より低い", "below the reference range"),
    "cl_abnormal": ("基準外", "outside the reference"),
    "cl_legend": (
        "左から古い順（グラフも同じ向き）。▲ 基準範囲より高い　▼ 基準範囲より低い　＊ 基準外",
        "Oldest on the left, as in the charts. ▲ above the reference range   ▼ below   "
        "＊ outside the reference",
    ),
    # refusal
    "cl_refused_title": ("閲覧できません", "Cannot be shown"),
    # why a history cannot be shown (device.clinical.ClinicalRefused.reason); {what} is the kind
    "cl_refused_no_confirmation": (
        "この資格確認の記録は見つかりません",
        "This confirmation was not found",
    ),
    "cl_refused_not_insured": (
        "この資格確認の結果は有効な資格1件ではないため、{what}は照会できません",
        "This confirmation did not find exactly one valid qualification, "
        "so {what} cannot be requested",
    ),
    "cl_refused_expired": (
        "{what}の閲覧の同意は有効期限が過ぎています{when}。"
        "閲覧するには、患者さんのカードを再度読み取り、同意をいただいてください",
        "The patient's consent to view {what} has expired{when}. "
        "To view it, read the patient's card again and ask for consent",
    ),
    "cl_refused_ended": ("（{time}まで）", " (it ended {time})"),
    "cl_refused_no_consent": (
        "患者さんは{what}の閲覧に同意していません。"
        "閲覧するには、カードの読み取り時に同意をいただく必要があります",
        "The patient has not agreed to share {what}. "
        "Consent is given on the card reader when the card is read",
    ),
    "cl_refused_cannot_consent": (
        "この患者さんは保険者番号（資格確認書など）で確認したため、{what}の閲覧の同意を"
        "いただけません（同意はマイナ保険証をカードリーダーで読み取るときだけ得られます）。"
        "お薬手帳や問診で確認してください",
        "This patient was checked by the insurance numbers (e.g. a qualification certificate), "
        "so no consent to view {what} can exist: consent is given only when a My Number card "
        "is read. Check the patient's medication notebook or ask the patient",
    ),
    "cl_refused_not_asked": (
        "この受付ではカードで{what}の閲覧の同意を確認していません（カードの電子証明書の期限切れ"
        "の後や、同意を確認しない設定のとき）。お薬手帳や問診で確認してください",
        "This card visit asked no consent to view {what} (after the card's certificate expired, "
        "or the kiosk is set not to ask). Check the patient's medication notebook or ask the "
        "patient",
    ),
    "cl_consent_impossible": ("同意不可（番号で確認）", "No consent (checked by numbers)"),
    "cl_refused_central": (
        "中央サービスから取得できませんでした: {detail}",
        "The central service did not provide the data: {detail}",
    ),
    "cl_refused_central_answer": (
        "中央サービスの回答: {detail}",
        "Answer of the central service: {detail}",
    ),
    "cl_refused_central_failed": ("異常終了", "failed"),
    "cl_refused_unreadable": (
        "中央サービスが読み取れない応答を返しました。再度お試しいただき、"
        "続く場合は管理者に連絡してください",
        "The central service answered something unreadable. Try again; "
        "if it happens again, tell the administrator",
    ),
    "cl_refused_no_document": (
        "中央サービスはこの情報をPDFで提供しませんでした。画面の表示をご覧ください",
        "The central service did not provide this information as a PDF. Use the page view instead",
    ),
    "cl_pdf_link": ("PDFで開く", "Open as PDF"),
    "cl_refused_untrusted": (
        "中央サービスとの証明書の設定が合っていません。再試行では解決しません。"
        "管理者に連絡してください",
        "The certificates for the central service do not match. Retrying will not help: "
        "tell the administrator",
    ),
    "cl_refused_unavailable": (
        "中央サービスに接続できませんでした。数分後に「もう一度開く」を押してください。"
        "それまでは、お薬手帳や患者さんへの問診で確認してください",
        "The central service could not be reached. Press “Try again” in a few minutes; "
        "meanwhile, check the patient's medication notebook or ask the patient",
    ),
    # the central is known to be unreachable (the circuit is open): nothing was asked of it
    "cl_refused_offline": (
        "中央サービスに接続できない状態です{since}。接続が戻るまで{what}は取得できません。"
        "お薬手帳や患者さんへの問診で確認し、しばらくしてから「もう一度開く」を押してください",
        "The central service is unreachable{since}, so {what} cannot be fetched until it is "
        "back. Check the patient's medication notebook or ask the patient, and press "
        "“Try again” later",
    ),
    "cl_down_since": ("（{time}から）", " (since {time})"),
    "cl_retry": ("もう一度開く", "Try again"),
    "cl_cached_offline": (
        "中央サービスに接続できない状態です{since}。表示は{time}に取得した内容です",
        "The central service is unreachable{since}. This is the copy fetched at {time}",
    ),
}
