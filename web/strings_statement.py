"""Words of the 被保険者資格申立書 pages: the form at the desk (Japanese or English) and the
printed page, which is the official form's Japanese for the patient's signature."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "statement_link": ("申立書", "Statement"),
    "statement_title": ("被保険者資格申立書", "Statement of insurance (被保険者資格申立書)"),
    "statement_lead": (
        "オンラインでも他の方法でも資格を確認できないときに、患者さんに申し立てていただく書類です。"
        "聞き取った内容を入力し、印刷して署名をもらってください。負担割合は通常どおりです。",
        "For when the qualification can be confirmed neither online nor by other means. Fill in "
        "what the patient tells you, print it and ask for their signature. They pay their usual "
        "share.",
    ),
    "statement_prefilled": (
        "以前の確認結果から入力しています。患者さんに確かめてください",
        "Filled in from an earlier answer: check each line with the patient",
    ),
    "statement_save": ("保存して印刷画面へ", "Save and print"),
    "statement_invalid": (
        "入力に誤りがあります。何も保存していません",
        "Some entries are not valid. Nothing was saved",
    ),
    "statement_saved": (
        "保存しました。印刷して署名をもらってください",
        "Saved. Print it and ask for the signature",
    ),
    "statement_print": ("印刷", "Print"),
    "statement_from_answer": ("申立書を作成", "Make a statement"),
    # the follow-up list: statements no online answer has confirmed yet
    "statement_awaiting_title": (
        "申立書 — オンライン確認待ち",
        "Statements awaiting an online check",
    ),
    "statement_awaiting_hint": (
        "申立書には照会できる番号がないため、自動の再照会はできません。同じカードで後日オンライン"
        "確認できると自動で確認済みになります。資格確認書などで確認できたら「確認済みにする」を"
        "押してください",
        "A statement holds no numbers to ask the central with, so it cannot be re-checked by "
        "itself. A later online check of the same card closes it; once the qualification is "
        "confirmed by other means, press Mark as confirmed",
    ),
    "statement_awaiting_link": ("確認待ちの申立書 {n} 件", "Statements awaiting a check: {n}"),
    "statement_awaiting_none": (
        "オンライン確認待ちの申立書はありません",
        "No statement is awaiting an online check",
    ),
    "statement_made_at": ("作成日時", "Made"),
    "statement_open": ("開く", "Open"),
    "statement_resolve": ("確認済みにする", "Mark as confirmed"),
    "statement_resolved": (
        "確認済みにしました（操作者を記録しました）",
        "Marked as confirmed (your name was recorded)",
    ),
    "statement_new": ("新しい申立書", "New statement"),
    "statement_required": ("必須", "required"),
    "statement_choose": ("選んでください", "choose"),
    "statement_stored_at": ("作成", "Made"),
    "statement_by": ("受付", "Taken by"),
    # fields, in the official form's order
    "statement_field_card_held": ("保険証等の有無", "Holds an insurance card or 資格確認書"),
    "statement_field_insurance_kind": ("加入医療保険の種別", "Kind of insurance"),
    "statement_field_insurer_name": ("保険者等名称", "Insurer"),
    "statement_field_employer": ("事業所名", "Employer"),
    "statement_field_issued": ("交付を受けた時期", "When it was issued"),
    "statement_field_ratio": ("一部負担金の割合", "Share the patient pays"),
    "statement_field_name": ("氏名", "Name"),
    "statement_field_birthdate": ("生年月日", "Date of birth"),
    "statement_field_sex": ("性別", "Sex"),
    "statement_field_address": ("住所", "Address"),
    "statement_field_contact": ("連絡先", "Telephone"),
    # choices (device.statement enums)
    "statement_card_held_yes": ("有", "Yes"),
    "statement_card_held_no": ("無", "No"),
    "statement_insurance_kind_employee": (
        "健康保険（協会けんぽ・健康保険組合）",
        "Employees' health insurance",
    ),
    "statement_insurance_kind_national": ("国民健康保険", "National health insurance"),
    "statement_insurance_kind_late_elderly": ("後期高齢者医療", "Late-stage elderly care"),
    "statement_insurance_kind_mutual_aid": ("共済組合", "Mutual aid association"),
    "statement_insurance_kind_seamen": ("船員保険", "Seamen's insurance"),
    "statement_insurance_kind_other": ("その他", "Other"),
    "statement_ratio_10": ("1割", "10 %"),
    "statement_ratio_20": ("2割", "20 %"),
    "statement_ratio_30": ("3割", "30 %"),
    "statement_sex_1": ("男", "Male"),
    "statement_sex_2": ("女", "Female"),
    # device.statement.StatementProblem
    "statement_problem_missing": ("入力してください", "is missing"),
    "statement_problem_too_long": ("長すぎます", "is too long"),
    "statement_problem_not_a_choice": ("選択肢から選んでください", "choose one of the options"),
    "statement_problem_unprintable": (
        "使えない文字があります",
        "holds a character that cannot be used",
    ),
    "statement_problem_date_format": (
        "日付の形式が違います（例: 1960-04-01, S35.4.1）",
        "date format not recognised (e.g. 1960-04-01, S35.4.1)",
    ),
    "statement_problem_future": ("未来の日付です", "is in the future"),
    "statement_problem_phone": (
        "電話番号を数字で入力してください",
        "give a telephone number in digits",
    ),
    # the printed page (always Japanese: the patient signs it)
    "statement_print_declaration": (
        "上記のとおり、被保険者資格について申し立てます。",
        "上記のとおり、被保険者資格について申し立てます。",
    ),
    "statement_print_date": ("申立日", "申立日"),
    "statement_print_signature": ("署名", "署名"),
    "statement_print_clinic": ("医療機関記入欄", "医療機関記入欄"),
}
