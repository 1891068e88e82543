"""Texts of the admin pages: key → (Japanese, English); merged into present.STRINGS."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "admin_link": ("管理", "Admin"),
    "admin_status": ("稼働状況", "Status"),
    "admin_settings": ("設定", "Settings"),
    "admin_users": ("職員", "Staff users"),
    "admin_audit": ("監査ログ", "Audit log"),
    "admin_status_title": ("管理 — 稼働状況", "Admin — status at a glance"),
    "admin_status_updated": ("更新", "Updated"),
    "admin_status_auto": ("10秒ごとに自動更新", "Refreshes every 10 s"),
    "admin_level_ok": ("正常", "OK"),
    "admin_level_warn": ("要確認", "Check"),
    "admin_level_bad": ("異常", "Problem"),
    "admin_settings_title": ("管理 — 設定", "Admin — settings"),
    "admin_settings_lead": (
        "保存した設定は再起動後に反映されます。環境変数やコマンドで決まっている設定はここでは変更できません",
        "Saved settings apply after a restart. Settings fixed by the environment or the command "
        "cannot be changed here",
    ),
    "admin_col_setting": ("設定", "Setting"),
    "admin_col_value": ("値", "Value"),
    "admin_col_source": ("設定元", "From"),
    "admin_source_default": ("既定値", "default"),
    "admin_source_file": ("設定ファイル", "config file"),
    "admin_source_stored": ("管理画面", "admin page"),
    "admin_source_environment": ("環境変数（固定）", "environment (locked)"),
    "admin_source_override": ("起動コマンド（固定）", "command (locked)"),
    "admin_readonly": ("変更不可", "read-only"),
    "admin_pending": ("再起動後に反映", "applies after restart"),
    "admin_running_value": ("現在の値: {value}", "Running with: {value}"),
    "admin_reset_default": ("管理画面の値を削除", "Remove the admin page's value"),
    "admin_save": ("保存", "Save"),
    "admin_saved": (
        "保存しました。再起動後に反映されます",
        "Saved; applies after restart",
    ),
    "admin_invalid": (
        "誤りがあります。何も保存していません",
        "Some values are not valid. Nothing was saved",
    ),
    "admin_restart": ("再起動して反映", "Restart to apply"),
    "admin_restarting_title": ("再起動しています", "Restarting"),
    "admin_restarting": (
        "保存した設定で再起動しています。数秒後にページを開き直してください",
        "Restarting with the saved settings. Open the page again in a few seconds",
    ),
    "admin_users_title": ("管理 — 職員", "Admin — staff users"),
    "admin_col_username": ("ユーザー名", "Username"),
    "admin_col_display_name": ("表示名", "Name"),
    "admin_col_roles": ("役割", "Roles"),
    "admin_col_state": ("状態", "State"),
    "admin_col_totp": ("二要素", "2FA"),
    "admin_col_created": ("登録日", "Created"),
    "admin_col_actions": ("操作", "Actions"),
    "admin_enabled": ("有効", "enabled"),
    "admin_disabled": ("無効", "disabled"),
    "admin_yes": ("あり", "yes"),
    "admin_no": ("なし", "no"),
    "admin_disable": ("無効にする", "Disable"),
    "admin_enable": ("有効にする", "Enable"),
    "admin_reset_password": ("パスワード再設定", "Reset password"),
    "admin_reset_totp": ("二要素をリセット", "Reset second factor"),
    "admin_change_roles": ("役割を変更", "Change roles"),
    "admin_create_user": ("職員を追加", "Add a staff user"),
    "admin_password": ("パスワード（12文字以上）", "Password (12+ characters)"),
    "admin_password_again": ("もう一度", "Again"),
    "admin_create": ("追加", "Add"),
    "admin_passwords_differ": (
        "パスワードが一致しません / the two passwords differ",
        "The two passwords differ",
    ),
    "admin_user_done": ("変更しました", "Done"),
    "admin_unknown_user": ("その職員はいません", "No such user"),
    "admin_audit_title": ("管理 — 監査ログ", "Admin — audit log"),
    "admin_filter_actor": ("操作者", "Actor"),
    "admin_filter_action": ("操作", "Action"),
    "admin_filter_subject": ("対象（前方一致）", "Subject starts with"),
    "admin_filter_from": ("開始日", "From"),
    "admin_filter_to": ("終了日", "To"),
    "admin_filter_any": ("すべて", "any"),
    "admin_filter": ("絞り込み", "Filter"),
    "admin_filter_clear": ("解除", "Clear"),
    "admin_bad_date": (
        "日付は YYYY-MM-DD で入力してください",
        "Enter dates as YYYY-MM-DD",
    ),
    "admin_col_id": ("番号", "Id"),
    "admin_col_at": ("日時（日本時間）", "Time (JST)"),
    "admin_col_subject": ("対象", "Subject"),
    "admin_col_detail": ("詳細", "Detail"),
    "admin_audit_none": ("該当する記録はありません", "No entries match"),
    "admin_older": ("さらに古い記録", "Older entries"),
    "admin_newest": ("最新に戻る", "Back to the newest"),
    "admin_verify": ("改ざん検査", "Verify the chain"),
    "admin_verify_ok": (
        "改ざんはありません（{n} 件を検査）",
        "The chain holds ({n} entries checked)",
    ),
    "admin_verify_bad": (
        "{id} 番の記録で連鎖が切れています（それより前の {n} 件は正常）",
        "The chain breaks at entry {id} (the {n} entries before it hold)",
    ),
    # -- tokens of the read API (web/admin_tokens.py, web/api.py) ------------------------------
    "admin_tokens": ("APIトークン", "API tokens"),
    "tokens_title": ("管理 — APIトークン", "Admin — API tokens"),
    "tokens_lead": (
        "レセコンや電子カルテが確認結果を読み出すための鍵です。読み出しはすべて監査ログに残ります。"
        "使わなくなったトークンは失効させてください",
        "Keys with which a receipt computer or an electronic chart reads the answers. Every "
        "read is in the audit log. Revoke a token that is no longer used",
    ),
    "tokens_col_name": ("名前", "Name"),
    "tokens_col_created": ("作成", "Created"),
    "tokens_col_last_used": ("最終使用", "Last used"),
    "tokens_col_state": ("状態", "State"),
    "tokens_never_used": ("未使用", "never"),
    "tokens_active_state": ("有効", "active"),
    "tokens_revoked_state": ("失効", "revoked"),
    "tokens_revoke": ("失効させる", "Revoke"),
    "tokens_revoke_warning": (
        "「{name}」を使うシステムは、新しいトークンを設定するまで読み出せなくなります。元には戻せません",
        'The system using "{name}" reads nothing until it is given a new token. This cannot '
        "be undone",
    ),
    "tokens_revoke_confirm": ("失効させる（元に戻せません）", "Revoke for good"),
    "tokens_none": ("トークンはありません", "No tokens yet"),
    "tokens_create": ("トークンを作る", "Create a token"),
    "tokens_create_button": ("作成", "Create"),
    "tokens_name_hint": ("例: レセコン本院", "e.g. receipt computer"),
    "tokens_created": ("トークン「{name}」を作りました", 'Token "{name}" created'),
    "tokens_secret_once": (
        "この値は今だけ表示されます。今すぐコピーして、読み出す側のシステムに設定してください。"
        "あとから見ることはできません（なくしたら失効させて作り直してください）",
        "This value is shown only now. Copy it now into the system that reads: it cannot be "
        "shown again (if it is lost, revoke the token and make a new one)",
    ),
    "tokens_secret_label": ("トークンの値", "Token value"),
    "tokens_copy": ("コピー", "Copy"),
    "tokens_copied": ("コピーしました", "Copied"),
    "tokens_usage": ("送り方:", "Send it as:"),
    "tokens_revoked_done": (
        "失効させました。このトークンではもう読み出せません",
        "Revoked: this token reads nothing any more",
    ),
    "tokens_revoked_already": (
        "このトークンは既に失効しています",
        "This token was already revoked",
    ),
    "tokens_name_empty": ("名前を入力してください", "Type a name"),
    "tokens_name_too_long": (
        "名前は{max}文字以内にしてください",
        "Use at most {max} characters for the name",
    ),
    "tokens_name_unprintable": (
        "名前に改行や制御文字は使えません",
        "A name cannot hold line breaks or control characters",
    ),
    "tokens_name_taken": (
        "同じ名前の有効なトークンがあります。別の名前にしてください",
        "An active token has this name: choose another name",
    ),
    "api_unauthorized": (
        "有効なAPIトークンが必要です（Authorization: Bearer …）。"
        "管理画面のAPIトークンで作成できます",
        "A valid API token is required (Authorization: Bearer …); an admin makes one on the "
        "API tokens page",
    ),
    "api_bad_since": (
        "since は0以上の整数（前回受け取った next の値）にしてください",
        "since must be a whole number of 0 or more (the last next you received)",
    ),
    "api_bad_limit": (
        "limit は1から500までの整数にしてください",
        "limit must be a whole number from 1 to 500",
    ),
}

# Japanese help for each setting; the English help is Setting.help (device/settings.py).
SETTING_HELP_JA: dict[str, str] = {
    "medical_institution_code": "医療機関コード（10桁）。すべての照会に付けて送ります",
    "data_dir": "データベース・鍵ファイル・デモ用カード状態の保存先",
    "key_file": (
        "データベース暗号鍵のファイル（既定: <data_dir>/store.key。実機では systemd の資格情報）"
    ),
    "central_url": "中央の資格確認サービスの URL",
    "central_ca": "中央サービスの証明書を検証する CA 証明書（固定）",
    "device_cert": "この端末のクライアント証明書（相互 TLS）",
    "device_key": "クライアント証明書の秘密鍵",
    "jpki_root_file": (
        "JPKI 利用者証明用ルート証明書のファイル（PEM・複数可、または DER）。中央サービスに接続"
        "できないとき、カードの証明書をこの端末で確認するのに使います。空欄は未設定"
        "（オフライン時にカードで本人確認できません）"
    ),
    "export_dir": (
        "レセコンが顔認証結果ファイル（資格確認端末の face フォルダと同じ形式）を読むフォルダ。"
        "カードでの資格確認の結果をここに書き出します。空欄は書き出さない"
    ),
    "export_retry_s": (
        "書き出し先が受け付けなかったファイル（共有フォルダ未接続、容量不足）を書き直す間隔（秒）。"
        "書けるまでファイルは保持されます"
    ),
    "central_timeout_s": "中央サービスへの1回の要求を待つ秒数",
    "central_deadline_s": (
        "中央サービスへの1回の呼び出し全体（再試行・少しずつ届く応答を含む）の上限秒数（1〜300）"
    ),
    "central_retries": "通信エラー時に再試行する回数（冪等な要求のみ）",
    "central_connect_timeout_s": (
        "中央サービスへの接続（TLS の確立・再試行を含む）を待つ秒数。過ぎると接続不可とみなします"
    ),
    "central_breaker_failures": (
        "接続不可が何回続いたら遮断するか（遮断中は待たずに失敗し、受付に障害を表示します）"
    ),
    "central_breaker_open_s": "遮断してから中央サービスを再確認するまでの秒数",
    "central_mode": (
        "資格確認の経路。api は HTTPS（相互 TLS、模擬中央サービス）、folders は資格確認端末の"
        "共有フォルダ（terminal_root の req/・res/）。カードでの受付は当面 api のみ"
    ),
    "terminal_root": (
        "資格確認端末の共有フォルダ（req/・res/・face/・trash/ を含む場所）。folders のとき必須"
    ),
    "terminal_rescan_s": (
        "応答を待つ間に res/ フォルダを見直す間隔（秒）。共有フォルダでは端末側の書き込みが"
        "通知されないため"
    ),
    "terminal_timeout_s": (
        "資格確認端末の応答ファイルを待つ秒数。過ぎると接続不可とみなし、要求ファイルを取り下げます"
    ),
    "reader": "使うカードリーダー（PC/SC 名の一部）。空欄なら最初に見つかったもの",
    "staff_host": "職員画面の待受アドレス（実機では LAN のアドレス）",
    "staff_port": "職員画面のポート",
    "staff_tls_cert": "職員画面 HTTPS の証明書（PEM）。空欄なら初回起動時に自己署名で作成",
    "staff_tls_key": "staff_tls_cert の秘密鍵（PEM）",
    "kiosk_port": "キオスク画面のポート（常に 127.0.0.1 のみで待受）",
    "pin_timeout_s": "キオスクで暗証番号の入力を待つ秒数",
    "consent_timeout_s": "キオスクで同意の回答を待つ秒数",
    "staff_timeout_s": "暗証番号ロックや呼び出しのあと職員の目視確認を待つ秒数",
    "kiosk_reset_s": "完了・失敗の画面を表示してから最初の画面に戻るまでの秒数",
    "consent_kinds": "キオスクで同意を確認する情報（選択なしなら同意画面を出しません）",
    "language": "画面の既定の言語",
    "retention_days": "資格確認結果を保存する日数",
    "outbox_give_up_h": (
        "再照会の待ち行列に入れてからこの時間（時間）たっても回答が得られない項目は、"
        "再照会をやめて受付画面に「再照会できませんでした: 手動で確認してください」と表示します"
        "（確認済みにするまで表示）"
    ),
    "audit_retention_days": "監査ログを保存する日数（既定は5年。365〜7305日）",
    "backup_keep": "バックアップ先に残す世代数（これより古いものは新しいバックアップの後に削除）",
    "backup_at": (
        "夜間バックアップを行う時刻（日本時間 HH:MM。その時刻に電源が切れていた場合は次の起動時）"
    ),
    "demo": "デモモード（仮想カードのページを表示）。実際の医療機関では使いません",
    "demo_data": "デモ用のシミュレーターのデータ（テスト用 PKI・カード状態）",
    "log_level": "ログの詳しさ（TRAFFIC はカード通信を記録。暗証番号は伏せます）",
}
