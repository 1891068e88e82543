"""Texts of the first start: the staff page's 初期設定 form (web/setup.py) → (Japanese, English)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "setup_link": ("初期設定（最初の管理者を作成）", "First setup (create the first admin)"),
    "setup_title": ("初期設定 — 最初の管理者", "First setup — the first admin"),
    "setup_lead": (
        "職員ユーザーがまだいません。受付の画面（キオスク）と本体のコンソールに表示されている"
        "初期設定コードを入力し、最初の管理者を作成してください。",
        "There is no staff user yet. Type the setup code shown on the kiosk screen and on the "
        "box's console, and create the first admin.",
    ),
    "setup_code": ("初期設定コード", "Setup code"),
    "setup_display_name": ("表示名（氏名）", "Display name"),
    "setup_password_again": ("パスワード（確認のためもう一度）", "Password (again, to check)"),
    "setup_password_hint": (
        "12文字以上。作成後に管理者の二段階認証を登録し、復旧シートを印刷します。",
        "At least 12 characters. Next you enrol the admin's second factor and print the "
        "recovery sheet.",
    ),
    "setup_submit": ("管理者を作成", "Create the admin"),
    "setup_code_wrong": (
        "初期設定コードが違います。キオスクの画面かコンソールに表示されているコードを入力してください（何も変更していません）",
        "The setup code is not right. Type the code shown on the kiosk screen or the console "
        "(nothing was changed)",
    ),
    "setup_password_mismatch": (
        "2つのパスワードが一致しません。もう一度入力してください",
        "The two passwords differ. Please type them again",
    ),
}
