"""Why the box did not trust a card's certificate (device.cardtrust.CardTrustProblem), in words
for reception staff: "card_untrusted_<problem>". Each says what to do next: the patient is
never stuck because of it (their qualification can still be confirmed by other means, DOMAIN.md
§9). Merged into present.STRINGS.
"""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "card_untrusted_no_root": (
        "この端末には JPKI ルート証明書が設定されていないため、中央サービスに接続できない間は"
        "カードを確認できません。資格確認書・マイナポータル等で資格を確認してください。"
        "管理者は設定 jpki_root_file を設定してください",
        "This box has no JPKI root certificate configured, so cards cannot be checked while the "
        "central is unreachable. Confirm the qualification by the qualification certificate or "
        "Mynaportal. The administrator should set jpki_root_file",
    ),
    "card_untrusted_unreadable": (
        "カードの証明書を読み取れませんでした。カードを置き直してください。"
        "続く場合は資格確認書等で資格を確認してください",
        "The card's certificate could not be read. Place the card again; if it happens again, "
        "confirm the qualification by the qualification certificate or other means",
    ),
    "card_untrusted_unknown_issuer": (
        "マイナンバーカードの利用者証明用証明書ではありません（発行元が JPKI ではありません）。"
        "資格確認書・保険証等で資格を確認してください",
        "This is not a My Number card's user-authentication certificate (not issued by JPKI). "
        "Confirm the qualification by the qualification certificate or health insurance card",
    ),
    "card_untrusted_bad_signature": (
        "カードの証明書の署名が正しくありません。偽造の可能性があります。"
        "このカードでは確認せず、資格確認書・保険証等で資格を確認してください",
        "The signature on the card's certificate is not valid: it may be forged. Do not rely on "
        "this card; confirm the qualification by the qualification certificate or insurance card",
    ),
    "card_untrusted_wrong_key": (
        "カードの証明書の鍵の種類が違います。資格確認書・保険証等で資格を確認してください",
        "The card's certificate has the wrong kind of key. Confirm the qualification by the "
        "qualification certificate or health insurance card",
    ),
    "card_untrusted_not_auth_cert": (
        "カードの証明書が利用者証明用のものではありません。"
        "資格確認書・保険証等で資格を確認してください",
        "The card's certificate is not a user-authentication certificate. Confirm the "
        "qualification by the qualification certificate or health insurance card",
    ),
    "card_untrusted_root_expired": (
        "この端末の JPKI ルート証明書の有効期限が切れています。資格確認書・マイナポータル等で"
        "資格を確認し、管理者に新しいルート証明書の設定を依頼してください",
        "This box's JPKI root certificate has expired. Confirm the qualification by the "
        "qualification certificate or Mynaportal, and ask the administrator to install the new "
        "root certificate",
    ),
    "card_untrusted_not_yet_valid": (
        "カードの証明書がまだ有効になっていません（端末の時刻を確認してください）。"
        "資格確認書等で資格を確認してください",
        "The card's certificate is not valid yet (check this box's clock). Confirm the "
        "qualification by the qualification certificate or other means",
    ),
    "card_untrusted_expired": (
        "カードの電子証明書の有効期限が切れています。市区町村の窓口で更新するよう患者さんに"
        "お伝えし、今回は資格確認書・保険証等で資格を確認してください",
        "The card's certificate has expired. Ask the patient to renew it at the municipal "
        "office, and confirm the qualification by the qualification certificate or insurance "
        "card today",
    ),
}
