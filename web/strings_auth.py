"""Texts of the staff login pages: key → (Japanese, English); merged into present.STRINGS."""

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
}
