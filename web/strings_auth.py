"""Texts of the staff login, second-factor and account pages.

key → (Japanese, English); merged into present.STRINGS.
"""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "login_title": ("職員ログイン", "Staff sign-in"),
    "login_lead": (
        "受付・診療の職員専用の画面です。ユーザー名とパスワードを入力してください",
        "For clinic staff only. Enter your username and password",
    ),
    "login_username": ("ユーザー名", "Username"),
    "login_password": ("パスワード", "Password"),
    "login_submit": ("ログイン", "Sign in"),
    "login_failed": (
        "ユーザー名またはパスワードが違います",
        "The username or password is not right",
    ),
    "logout": ("ログアウト", "Sign out"),
    "signed_in_as": ("ログイン中", "Signed in"),
    "error_401": ("ログインしてください", "Please sign in"),
    "error_403": (
        "この操作は許可されていません。ページを開き直してください",
        "Not allowed. Please reload the page",
    ),
    "error_429": (
        "ログインの失敗が続いたため、しばらくお待ちください",
        "Too many failed sign-ins. Please wait a while",
    ),
    "error_admin_totp": (
        "管理者の操作には二段階認証（確認コード）が必要です。ログインし直してください",
        "Administration needs the second factor (an authenticator code). Please sign in again",
    ),
    "login_blocked": (
        "ログインの失敗が続いたため一時的に停止しています。しばらくしてから（約{minutes}分後）もう一度お試しください",
        "Too many failed sign-ins. Please try again in {minutes} minutes",
    ),
    "login_cancel": ("やめてログイン画面に戻る", "Cancel and go back to sign-in"),
    "totp_title": ("確認コードの入力", "Authenticator code"),
    "totp_lead": (
        "認証アプリに表示されている6桁の確認コードを入力してください",
        "Enter the 6-digit code shown in your authenticator app",
    ),
    "totp_code": ("確認コード（6桁）", "Code (6 digits)"),
    "totp_submit": ("確認", "Verify"),
    "totp_failed": (
        "確認コードが違うか、すでに使われています。次のコードを入力してください",
        "The code is not right or was already used. Enter the next code",
    ),
    "enrol_title": ("二段階認証の登録", "Set up the second factor"),
    "enrol_required": (
        "管理者は二段階認証の登録が必要です。登録が終わるまで他の画面は使えません",
        "Administrators must set up the second factor before using any other page",
    ),
    "enrol_step_app": (
        "スマートフォンに認証アプリ（Google Authenticator など）を用意します",
        "Open an authenticator app on your phone (e.g. Google Authenticator)",
    ),
    "enrol_step_scan": (
        "下のQRコードを読み取ります。読み取れないときは下の文字を入力します",
        "Scan the QR code below, or type the text under it",
    ),
    "enrol_step_code": (
        "アプリに表示された6桁のコードを入力して登録します",
        "Enter the 6-digit code the app shows to finish",
    ),
    "enrol_secret_text": ("手入力用の文字（キー）", "Key for typing"),
    "enrol_submit": ("登録する", "Set up"),
    "account_title": ("アカウント", "Your account"),
    "account_home": ("受付画面へ", "To reception"),
    "account_back": ("アカウント画面に戻る", "Back to your account"),
    "account_name": ("表示名", "Name"),
    "account_roles": ("役割", "Roles"),
    "account_totp": ("二段階認証", "Second factor"),
    "account_totp_on": ("登録済みです", "Set up"),
    "account_totp_off": ("登録されていません", "Not set up"),
    "account_totp_enrol": ("二段階認証を登録する", "Set up the second factor"),
    "account_totp_remove": ("二段階認証を解除する", "Remove the second factor"),
    "account_totp_remove_password": (
        "解除するにはパスワードを入力してください",
        "Enter your password to remove it",
    ),
    "account_totp_admin_keeps": (
        "管理者は二段階認証を解除できません。端末をなくしたときは他の管理者に再設定を依頼してください",
        "Administrators keep the second factor. If you lose the phone, ask another administrator "
        "to reset it",
    ),
    "account_password": ("パスワードの変更", "Change password"),
    "account_current_password": ("現在のパスワード", "Current password"),
    "account_new_password": (
        "新しいパスワード（12文字以上）",
        "New password (12 characters or more)",
    ),
    "account_new_password_again": ("新しいパスワード（確認）", "New password again"),
    "account_password_submit": ("変更する", "Change"),
    "account_totp_enrolled": ("二段階認証を登録しました", "The second factor is set up"),
    "account_totp_removed": ("二段階認証を解除しました", "The second factor was removed"),
    "account_password_changed": (
        "パスワードを変更しました。他の端末のログインは終了しました",
        "Password changed. Sign-ins on other devices have ended",
    ),
}
