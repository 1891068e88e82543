"""Texts every page shares: key → (Japanese, English); merged into present.STRINGS.

The app name, the language switch, the column headings several tables use, the HTTP error page.
"""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # frame of every page
    "app_name": ("オンライン資格確認", "Eligibility check"),
    "language_switch": ("English", "日本語"),
    "reception_link": ("受付画面", "Reception"),
    # column headings of more than one table (reception, clinical list, demo cards)
    "col_time": ("時刻", "Time"),
    "col_name": ("氏名", "Name"),
    "col_birthdate": ("生年月日", "Date of birth"),
    # PIN tries left: the kiosk PIN screen and the reception status strip
    "pin_tries": ("残り {n} 回", "Tries left: {n}"),
    # error pages
    "error_400": ("リクエストが正しくありません", "Bad request"),
    # what was wrong with a refused request (web/inbound.py, the kiosk's gate)
    "error_json_depth": (
        "JSON の入れ子が深すぎます。ページを再読み込みしてください",
        "The JSON is nested too deeply. Reload the page",
    ),
    "error_json_syntax": (
        "JSON として読めません。ページを再読み込みしてください",
        "The body is not valid JSON. Reload the page",
    ),
    "error_json_object": (
        "JSON のオブジェクトではありません。ページを再読み込みしてください",
        "The body is not a JSON object. Reload the page",
    ),
    "error_bad_host": (
        "Host ヘッダーが正しくありません。アドレスを確かめてください",
        "The Host header cannot be read. Check the address",
    ),
    "error_kiosk_host": (
        "キオスクは http://127.0.0.1:ポート番号/ でのみ開けます",
        "The kiosk opens only at http://127.0.0.1:<port>/",
    ),
    "error_kiosk_origin": (
        "ほかのページからの操作は受け付けません",
        "Requests from other pages are not accepted",
    ),
    "error_404": ("ページが見つかりません", "Page not found"),
    "error_405": ("この操作はできません", "Method not allowed"),
    "error_409": ("現在この操作はできません", "Not possible right now"),
    "error_413": ("データが大きすぎます", "Request too large"),
    "error_415": ("形式が正しくありません", "Unsupported content type"),
    "error_500": (
        "内部エラーが発生しました。しばらくしてから再度お試しください",
        "Internal error. Please try again shortly",
    ),
    # the disk is full: shown in both languages at once (web/app.py), with what to do
    "error_507": (
        "装置の記憶領域がいっぱいのため保存できませんでした。何も保存されていません。"
        "管理者に空き容量の確保を依頼し、空きができてからもう一度操作してください",
        "The appliance's storage is full, so nothing was saved. Ask an admin to free space, "
        "then try again",
    ),
    "back_home": ("最初の画面へ", "Back to the start"),
    # the account page's own refusals (web/account.py)
    "account_enrol_again": ("登録をやり直してください", "Please start the enrolment again"),
    "account_new_passwords_differ": (
        "新しいパスワードが一致しません。同じものを2回入力してください",
        "The new passwords do not match: type the same one twice",
    ),
}
