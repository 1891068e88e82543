"""Texts of the kiosk (patient) screens: key → (Japanese, English); merged into present.STRINGS."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "kiosk_title": ("資格確認", "Eligibility check"),
    "welcome": ("カードを置いてください", "Please place your card"),
    "welcome_sub": (
        "マイナンバーカードを読み取り機に置いてください",
        "Place your My Number card on the reader",
    ),
    "reading": ("カードを読み取っています", "Reading your card"),
    "reading_sub": ("カードを置いたままお待ちください", "Please leave the card in place"),
    # the central service cannot be reached right now
    "kiosk_outage": (
        "ただいまオンラインでの資格確認ができません",
        "The online eligibility check is not available right now",
    ),
    "kiosk_outage_sub": (
        "受付にお声がけください。保険証の代わりになる書類（資格確認書など）で確認します",
        "Please go to the reception desk. They will check your eligibility another way",
    ),
    # PIN entry
    "pin_title": ("暗証番号（数字4桁）を入力してください", "Enter your 4-digit PIN"),
    "pin_wrong": ("暗証番号が違います。", "The PIN is wrong."),
    "pin_last_try": (
        "あと1回間違えるとロックされます。分からない場合は受付にお声がけください",
        "One more wrong PIN locks the card. If you are not sure, please ask the reception",
    ),
    "pin_back": ("訂正", "Delete"),
    "pin_ok": ("確定", "OK"),
    "pin_digits": ("入力した桁数", "Digits entered"),
    # checking and done
    "checking": ("確認しています", "Checking"),
    "checking_sub": (
        "しばらくお待ちください。カードはまだ取らないでください",
        "Please wait. Do not take the card yet",
    ),
    "done": ("確認が終わりました", "Done"),
    "done_sub": ("カードをお取りください", "Please take your card"),
    # a card visit kept offline: the holder is proven, the insurance is checked at the desk
    "offline_done": ("ご本人の確認ができました", "You have been identified"),
    "offline_done_sub": (
        "保険の資格は、いまオンラインで確認できないため受付でご案内します。"
        "情報提供の同意は、今回は登録されません。カードをお取りください",
        "Your insurance cannot be checked online right now: the reception will help you. "
        "Consent to share information is not registered this time. Please take your card",
    ),
    # PIN locked, or the patient asks for staff
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
    # consent to share medical information
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
    # one line per consent kind ("consent_desc_" + kind)
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
    # the answer is not for the patient to read at the kiosk (not found, invalid, an error)
    "see_desk": ("受付にお声がけください", "Please talk to the reception"),
    "see_desk_sub": (
        "保険の資格について、受付でご案内します",
        "The reception will tell you about your insurance",
    ),
    # the card's certificate and its expiry (DOMAIN.md §10); {date} is the expiry date
    "notice_renew": (
        "カードの電子証明書は {date} に期限が切れます。お住まいの市区町村の窓口で更新してください",
        "Your card's certificate expires on {date}. Please renew it at your city office",
    ),
    "notice_grace": (
        "カードの電子証明書は {date} に期限が切れました。今回は資格の確認のみ行い、"
        "お薬などの情報提供の同意はできません。市区町村の窓口で更新してください",
        "Your card's certificate expired on {date}. Today only your insurance is checked: "
        "no information can be shared. Please renew it at your city office",
    ),
    "grace_over": (
        "このカードは保険証として使えません",
        "This card cannot be used as an insurance card",
    ),
    "grace_over_sub": (
        "カードの電子証明書の有効期限が切れています。市区町村の窓口で更新してください",
        "Your card's certificate has expired. Please renew it at your city office",
    ),
    "grace_over_take": (
        "カードをお取りになり、資格確認書をお持ちのうえ受付にお越しください",
        "Please take your card and go to the reception with your eligibility certificate",
    ),
    # the card stays on the reader after the visit ended
    "take_card": ("カードをお取りください", "Please take your card"),
    "take_card_sub": (
        "読み取り機にカードが残っています",
        "Your card is still on the reader",
    ),
    # the kiosk cannot reach the appliance (its event stream or requests fail)
    "out_of_service": ("ただいま休止中です", "Out of service"),
    "out_of_service_sub": ("受付にお声がけください", "Please talk to the reception"),
    "out_of_service_wait": (
        "復旧すると自動的に再開します",
        "This screen starts again by itself when it is back",
    ),
    # the check failed
    "error": ("確認できませんでした", "The check could not be completed"),
    "error_sub": ("受付にお声がけください", "Please talk to the reception"),
    # first start: no staff user yet (device/setup.py); shown instead of the welcome screen
    "setup_kiosk_title": ("初期設定が必要です", "First setup needed"),
    "setup_kiosk_code": ("初期設定コード", "Setup code"),
    "setup_kiosk_sub": (
        "職員画面（/setup）でこのコードを入力し、最初の管理者を作成してください。"
        "コードは1回限り、再起動まで有効です",
        "Type this code on the staff page (/setup) to create the first admin. "
        "It works once, until the next restart",
    ),
}
