"""Texts of the recovery sheet (web/recovery.py): key → (Japanese, English)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "recovery_link": ("復旧シート", "Recovery sheet"),
    "recovery_title": (
        "管理 — 復旧シート（データベースの鍵）",
        "Admin — recovery sheet (store key)",
    ),
    "recovery_lead": (
        "データベースの記録はこの鍵で暗号化されています。SDカードが壊れたとき、バックアップのない"
        "データベースのコピーを読むにはこの鍵が必要です。一度印刷し、バックアップのパスフレーズと"
        "一緒に、この機械から離れた鍵のかかる場所に保管してください。",
        "The records in the database are encrypted with this key. When the SD card fails, a copy "
        "of the database made without a backup can only be read with it. Print it once and keep "
        "it with the backup passphrase, locked away from this box.",
    ),
    "recovery_warning": (
        "この鍵を見た人は、データベースのコピーから患者の情報を読めます。表示は監査ログに記録されます。",
        "Anyone who sees this key can read patient data from a copy of the database. Showing it "
        "is recorded in the audit log.",
    ),
    "recovery_show": ("鍵を表示して印刷する", "Show the key to print it"),
    "recovery_key_label": ("データベースの鍵（16進 128桁）", "Store key (128 hex digits)"),
    "recovery_print": ("印刷する", "Print"),
    "recovery_printed_at": ("表示日時", "Shown at"),
    "recovery_box": ("医療機関コード", "Medical institution code"),
    "recovery_how": (
        "使い方: バックアップ（onshi restore）には鍵が含まれるため、通常はパスフレーズだけで"
        "戻せます。鍵ファイルを失ったデータベースには、この128桁を鍵ファイルに書き戻します"
        "（docs/backup.md）。",
        "How to use it: a backup (onshi restore) carries the key, so its passphrase alone "
        "restores it. For a database whose key file was lost, write these 128 digits back as "
        "the key file (docs/backup.md).",
    ),
    "recovery_unavailable": (
        "鍵ファイルを読めません。設定 key_file を確認してください",
        "The key file cannot be read: check the key_file setting",
    ),
}
