"""Words for 公費 and 医療扶助 on the desk row and the detail page (web/publicexpense.py);
merged into present.STRINGS."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # desk row marker
    "pe_row_aid": ("医療扶助", "Medical aid"),
    "pe_row_expense": ("公費 {kinds}", "Public expense: {kinds}"),
    "pe_row_elsewhere": ("医療券：指定医療機関 不一致", "Ticket names another clinic"),
    "pe_row_ticket_expired": ("医療券 期限切れ", "Ticket expired"),
    "pe_row_no_ticket": ("医療券なし", "No ticket"),
    "pe_row_expense_expired": ("公費 期限切れ", "Public expense expired"),
    "pe_row_title": (
        "{kind} 公費負担者番号 {number} 受給者番号 {recipient} {period}",
        "{kind}: payer {number}, recipient {recipient} {period}",
    ),
    # detail page sections
    "pe_section_aid": ("医療扶助（生活保護）", "Medical aid (public assistance)"),
    "pe_section_expense": ("公費 {n}：{kind}", "Public expense {n}: {kind}"),
    "pe_section_ticket": ("医療券・調剤券 {n}", "Medical aid ticket {n}"),
    "desk_f_pe_number": ("公費負担者番号", "Public expense payer number"),
    "desk_f_pe_recipient": ("受給者番号", "Recipient number"),
    "desk_f_pe_kind": ("公費の種類", "Kind of public expense"),
    "desk_f_pe_period": ("有効期間", "Valid"),
    "desk_f_ticket_type": ("券種", "Ticket"),
    "desk_f_ticket_period": ("有効期間", "Valid"),
    "desk_f_ticket_issue": ("交付番号", "Issue number"),
    "desk_f_ticket_month": ("診療年月", "Month of treatment"),
    "desk_f_ticket_institution": ("指定医療機関", "Designated institution"),
    "desk_f_ticket_prescriber": ("処方箋発行元医療機関", "Prescribing institution"),
    "desk_f_ticket_injuries": ("傷病名", "Diagnoses"),
    "desk_f_ticket_treatment": ("診療別", "Type of care"),
    "desk_f_ticket_self_pay": ("本人支払額", "Patient pays"),
    "desk_f_ticket_use": ("単独・併用別", "Alone or combined"),
    "desk_f_ticket_social": ("社会保険状況", "Social insurance"),
    "desk_f_ticket_remarks": ("備考", "Remarks"),
    "pe_yen": ("{amount}円", "¥{amount}"),
    "pe_check_digit_bad": ("検証番号が合いません", "check digit does not match"),
    "pe_warn_elsewhere": (
        "この医療券の指定医療機関は当院ではありません。"
        "このまま診療する前に福祉事務所に確認してください。",
        "This ticket names another medical institution. "
        "Ask the welfare office before treating under it.",
    ),
    "pe_warn_ticket_expired": (
        "この医療券は有効期間が終わっています。今月の医療券を福祉事務所に確認してください。",
        "This ticket's period is over. Ask the welfare office for this month's ticket.",
    ),
    "pe_warn_no_ticket": (
        "医療券の情報がありません。福祉事務所に確認してください。",
        "The answer carries no medical aid ticket. Ask the welfare office.",
    ),
}
