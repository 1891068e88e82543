"""Why a visit or a desk check ended without an answer (device.flow.EndReason), in words:
"reason_<code>" for staff (reception desk, manual checks), "kiosk_reason_<code>" for the patient
where they must be told something else (the patient cannot fix a certificate; staff can call
the administrator). Every text says what to do next. Merged into present.STRINGS; read them
with present.reason_text().
"""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # -- for staff (and for the patient where no kiosk_reason_ text exists) -------------
    "reason_card_removed": (
        "カードが取り外されました。もう一度カードを置いてください",
        "The card was removed. Please place the card again",
    ),
    "reason_timeout": (
        "時間切れです。もう一度カードを置いてください",
        "Timed out. Please place the card again",
    ),
    "reason_pin_blocked": (
        "暗証番号がロックされています。市区町村の窓口で解除できます。受付で目視確認もできます",
        "The PIN is locked; the city office can unlock it. Staff can confirm visually",
    ),
    "reason_staff_timeout": (
        "職員の確認を待つ時間が過ぎました。もう一度カードを置いてください",
        "Nobody from the staff confirmed in time. Please place the card again",
    ),
    "reason_not_jpki": (
        "マイナンバーカードではありません。マイナンバーカードを置いてください",
        "This is not a My Number card. Please place a My Number card",
    ),
    "reason_bad_certificate": (
        "カードの証明書を読めません。資格確認書などで確認してください",
        "The card's certificate cannot be read. Please check with the insurance numbers",
    ),
    "reason_card_error": (
        "カードの読み取りに失敗しました。カードを置き直してください",
        "Reading the card failed. Please place the card again",
    ),
    "reason_forbidden": (
        "許可されていないカード操作を止めました。管理者に連絡してください",
        "A forbidden card command was stopped. Please tell the administrator",
    ),
    "reason_signature_mismatch": (
        "カードの署名を確認できません。資格確認書などで確認してください",
        "The card's signature does not match its certificate. "
        "Please check with the insurance numbers",
    ),
    "reason_card_untrusted": (
        "オンライン資格確認に接続できず、カードの証明書もこの端末で確認できませんでした"
        "（有効期限切れ、または発行元が確認できません）。資格確認書・マイナポータルの資格情報画面で"
        "確認し、どれもなければ申立書を作成してください",
        "The online check could not be reached and this box could not verify the card's "
        "certificate (expired, or an issuer it does not know). Check a qualification "
        "certificate or the patient's Mynaportal screen; if there is none, fill in a statement "
        "of insured status",
    ),
    "reason_reader_restarted": (
        "カードリーダーのサービスが再起動しました。カードを置き直してください",
        "The card reader service restarted. Please place the card again",
    ),
    "reason_central_unavailable": (
        "資格確認サービスに接続できません。しばらくしてから再度お試しください",
        "The eligibility service cannot be reached. Please try again shortly",
    ),
    "reason_central_refused": (
        "資格確認サービスが要求を拒否しました。入力内容と設定を確認してください",
        "The eligibility service refused the request. Check what was entered and the settings",
    ),
    "reason_central_unreadable": (
        "資格確認サービスが読み取れない応答を返しました。再度お試しいただき、"
        "続く場合は管理者に連絡してください",
        "The eligibility service answered something unreadable. Try again; "
        "if it happens again, tell the administrator",
    ),
    "reason_central_untrusted": (
        "資格確認サービスとの証明書の設定が合っていません。再試行では解決しません。"
        "管理者に連絡してください（central_ca・device_cert の設定）",
        "The certificates for the eligibility service do not match. Retrying will not help: "
        "tell the administrator (settings central_ca and device_cert)",
    ),
    "reason_stopped": (
        "装置が再起動しました。もう一度カードを置いてください",
        "The appliance restarted. Please place the card again",
    ),
    "reason_disk_full": (
        "装置の記憶領域がいっぱいで、結果を保存できませんでした。管理者に空き容量の確保を"
        "依頼し、もう一度確認してください",
        "The appliance's storage is full, so the answer could not be saved. Ask an admin to "
        "free space, then check again",
    ),
    "reason_card_grace_over": (
        "電子証明書の期限切れ（猶予期間終了）。資格確認書の保険者番号で「番号で照会」してください",
        "The card's certificate expired and its grace period is over. Check the numbers on "
        "the patient's eligibility certificate",
    ),
    "reason_internal": (
        "内部エラーが発生しました。受付にお声がけください",
        "An internal error occurred. Please talk to the reception",
    ),
    # -- for the patient at the kiosk, where staff must act --------------------------------
    "kiosk_reason_card_untrusted": (
        "このカードでは、いま確認できません。カードをお取りになり、受付にお声がけください",
        "This card cannot be checked right now. Please take your card and talk to the reception",
    ),
    "kiosk_reason_card_grace_over": (
        "このカードの電子証明書は有効期限が切れているため、保険証として使えません。"
        "資格確認書をお持ちになり、受付にお声がけください",
        "This card's certificate has expired, so it cannot be used as an insurance card. "
        "Please go to the reception with your eligibility certificate",
    ),
    "kiosk_reason_central_refused": (
        "確認できませんでした。受付にお声がけください",
        "The check could not be completed. Please talk to the reception",
    ),
    "kiosk_reason_central_unreadable": (
        "確認できませんでした。もう一度カードを置くか、受付にお声がけください",
        "The check could not be completed. Place the card again or talk to the reception",
    ),
    "kiosk_reason_central_untrusted": (
        "現在この装置では確認できません。受付にお声がけください",
        "This terminal cannot check right now. Please talk to the reception",
    ),
    "kiosk_reason_disk_full": (
        "結果を保存できませんでした。受付にお声がけください",
        "The answer could not be saved. Please talk to the reception",
    ),
    "kiosk_reason_forbidden": (
        "カードを読み取れませんでした。受付にお声がけください",
        "The card could not be read. Please talk to the reception",
    ),
}
