"""Texts of the reception desk: today's table and status strip, the manual check, search and
the detail page of a confirmation, and the demo card page: key → (Japanese, English); merged
into present.STRINGS.
"""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # reception table and status strip
    "reception_title": ("受付 — 本日の資格確認", "Reception — today's confirmations"),
    "reader": ("カードリーダー", "Card reader"),
    "today": ("本日", "Today"),
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
    "desk_disk_low": (
        "装置の記憶領域が残りわずかです（空き {free}）。結果は予備領域に保存していますが、"
        "管理者に空き容量の確保を依頼してください",
        "The appliance's storage is nearly full ({free} free). Answers are saved in the reserve "
        "for now: ask an admin to free space",
    ),
    "live_lost": ("接続が切れました。再接続しています…", "Connection lost. Reconnecting…"),
    # the central service cannot be reached (the circuit breaker is open)
    "desk_outage_title": (
        "オンライン資格確認に接続できません（{n}分前から）",
        "Cannot reach the online eligibility check (for {n} min)",
    ),
    "desk_outage_title_now": (
        "オンライン資格確認に接続できません（1分以内）",
        "Cannot reach the online eligibility check (for less than a minute)",
    ),
    "desk_outage_since": ("{time} から", "since {time} JST"),
    "desk_outage_what": (
        "資格確認書、マイナポータルの資格情報画面、または前回の確認結果で資格を確認し、"
        "患者さんには通常の負担割合でお支払いいただいてください。"
        "照会は今は待たずに失敗します。復旧すると自動で表示が消えます",
        "Confirm eligibility by the qualification certificate, the patient's Mynaportal "
        "screen or the last answer, and charge the patient's usual share. Checks fail at once "
        "for now; this banner clears by itself once the check is back",
    ),
    "other_results": ("他 {n} 件", "{n} more"),
    # A card visit kept offline (the central was unreachable): the card's last online answer
    # is shown as 前回確認, never as today's answer.
    "offline_earlier": (
        "前回確認の内容です。負担割合は前回のとおりで会計し、回復後に自動で再照会します",
        "The previous confirmation: charge its ratio. It is checked again after recovery",
    ),
    "offline_earlier_no_numbers": (
        "前回確認に照会できる番号がありません。資格確認書・マイナポータルで確認してください",
        "The previous confirmation holds no numbers to ask with. Check a qualification "
        "certificate or the patient's Mynaportal screen",
    ),
    "offline_none": (
        "資格確認書・マイナポータルで確認し、どれもなければ詳細から申立書を作成してください",
        "Check a qualification certificate or the patient's Mynaportal screen; if there is "
        "none, open the details and fill in a statement of insured status",
    ),
    "offline_source": ("前回確認 {date}（{age}）", "previously confirmed {date} ({age})"),
    "desk_check_earlier": (
        "前回確認 {date}（{age}）: {verdict}・負担割合 {ratio}。回復後の再照会と比べます",
        "Previously confirmed {date} ({age}): {verdict}, ratio {ratio}. The re-check after "
        "recovery is compared with it",
    ),
    "desk_numbers_for": ("番号で照会", "Check by numbers"),
    "desk_numbers_for_hint": (
        "このカードの保険者番号などで照会し、結果をカードに紐づけます（次回はカードだけで照会できます）",
        "Check this card's insurance numbers; the answer is linked to the card for its next visit",
    ),
    "desk_numbers_for_note": (
        "{time} のカード来院に紐づけて照会します",
        "This check is linked to the card visit at {time}",
    ),
    "desk_numbers_for_clear": ("紐づけをやめる", "Unlink"),
    "offline_open_earlier": ("前回確認を開く", "Open the previous confirmation"),
    "offline_source_none": ("前回確認なし", "no earlier confirmation"),
    "age_today": ("本日", "today"),
    "age_days": ("{n}日前", "{n} days ago"),
    "sandbox_link": ("デモ用カード", "Demo cards"),
    # demo cards (sandbox)
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
    # demo: the simulated central's failure modes (sandbox)
    "sandbox_people_title": ("仮想カードを置く", "Place a virtual card"),
    "sim_central_title": ("デモ用: 模擬中央サービスの障害", "Demo: simulated central outages"),
    "sim_central_now": ("模擬中央サービスの状態", "Simulated central service"),
    "sim_mode_normal": ("通常", "Normal"),
    "sim_mode_down": ("停止中", "Down"),
    "sim_mode_slow": ("応答遅延", "Slow"),
    "sim_mode_flapping": ("断続（停止と復旧を繰り返す）", "Flapping (down and up in turn)"),
    "sim_switch_normal": ("通常に戻す", "Back to normal"),
    "sim_switch_down": ("停止する", "Take down"),
    "sim_switch_slow": ("遅くする", "Make slow"),
    "sim_switch_flapping": ("断続させる", "Make it flap"),
    "sim_is_down": ("現在つながりません", "unreachable now"),
    "sim_is_up": ("現在つながります", "reachable now"),
    "sim_slow_s": ("遅延（秒）", "Delay (s)"),
    "sim_flap_s": ("断続の間隔（秒）", "Flap every (s)"),
    "sim_changed_after_recovery": (
        "復旧後に一部の資格情報を変える",
        "Change some answers after recovery",
    ),
    "sim_answers_will_change": (
        "停止が終わると、P001・P004・P008 の資格情報が変わります",
        "When the outage ends, the answers for P001, P004 and P008 change",
    ),
    "sim_answers_changed": (
        "P001・P004・P008 の資格情報は変更済みです（再照会で確認できます）",
        "The answers for P001, P004 and P008 have changed (a re-check shows it)",
    ),
    "sim_central_unreachable": (
        "模擬中央サービスの切替に接続できません。onshi demo で起動してください",
        "Cannot reach the simulated central's switches. Start it with onshi demo",
    ),
    "sim_central_help": (
        "停止中の番号照会と再照会は再照会待ちに入り、復旧後に自動で照会されます",
        "Number checks and re-checks made while it is down are queued and asked after recovery",
    ),
    # demo: the simulated official terminal's reader, and 資格確認書 numbers (sandbox)
    "col_box_reader": ("この機器のリーダー", "This box's reader"),
    "col_official_reader": ("資格確認端末のリーダー", "The official terminal's reader"),
    "official_reader_title": (
        "デモ用: 資格確認端末（模擬）の顔認証リーダー",
        "Demo: the simulated official terminal's reader",
    ),
    "official_last": ("資格確認端末で最後に読んだカード", "Last card read on the official reader"),
    "official_reader_help": (
        "「資格確認端末のリーダー」の「置く」を押すと、模擬資格確認端末が顔認証でそのカードを"
        "確認し、結果ファイルを face/ に書きます。受付画面の一覧に自動で表示されます。"
        "端末のフォルダ:",
        "“Place” under “The official terminal's reader” has the simulated terminal check that "
        "card by face and write its result file into face/; it appears on the reception list by "
        "itself. The terminal's folder:",
    ),
    "official_unreachable": (
        "模擬資格確認端末がカードを読みませんでした。onshi demo --central folders で起動して"
        "ください",
        "The simulated terminal did not take the card. Start it with onshi demo --central folders",
    ),
    "official_api_mode": (
        "資格確認端末のリーダーは、端末のフォルダを使うデモで使えます（make demo MODE=folders）",
        "The official terminal's reader is offered in the folders demo (make demo MODE=folders)",
    ),
    "certificate_title": (
        "資格確認書をお持ちの方（番号で照会してみる）",
        "People with a qualification certificate (try the numbers check)",
    ),
    "certificate_help": (
        "受付画面の「保険者番号で照会」にこの番号と生年月日を入力してください",
        "Type these numbers and the date of birth into “Check by insurance numbers” on the "
        "reception page",
    ),
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
    # the re-check queue (outbox) and its changed-answer alerts (web/recheck.py)
    "desk_recheck_queued": (
        "再照会の待ち行列に入れました。中央が復旧したら自動で確認します。",
        "Queued for a re-check: it is asked again automatically once the central is back.",
    ),
    "recheck_alerts_title": ("再照会で回答が変わりました", "A re-check gave a different answer"),
    "recheck_change_verdict": ("資格の判定", "Eligibility"),
    "recheck_change_insurer": ("保険者番号", "Insurer number"),
    "recheck_change_ratio": ("負担割合", "Co-payment ratio"),
    "recheck_earlier": ("前回確認", "Charged earlier"),
    "recheck_now": ("再照会の回答", "Re-check answer"),
    "recheck_changed": ("変わった項目", "Changed"),
    "recheck_ack": ("確認済みにする", "Mark as seen"),
    "recheck_ack_failed": (
        "確認済みにできませんでした。画面を更新してもう一度お試しください。",
        "Could not mark it as seen. Reload the page and try again.",
    ),
    "recheck_acked_by": ("確認済み（{staff}）", "Seen by {staff}"),
    "recheck_open": ("詳細を見る", "Open"),
    # a re-check given up unanswered after outbox_give_up_h (web/recheck.py)
    "recheck_gave_up_title": (
        "再照会できませんでした: 手動で確認してください",
        "The re-check got no answer: check by hand",
    ),
    "recheck_change_unanswered": (
        "回答なし（資格確認書・マイナポータルの画面などで確認してください）",
        "no answer (check the 資格確認書, the patient's マイナポータル screen or similar)",
    ),
    "recheck_gave_up_asked": (
        "保険者番号 {insurer}・記号番号 {numbers}・生年月日 {birthdate}（{when} に照会）",
        "insurer {insurer}, numbers {numbers}, born {birthdate} (asked {when})",
    ),
    "recheck_gave_up_queued": ("{when} に照会", "asked {when}"),
}
