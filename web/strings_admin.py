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
        "誤りがあります。何も保存していません。赤枠の欄を直してから、もう一度保存してください",
        "Some values are not valid. Nothing was saved: correct the fields marked in red and "
        "save again",
    ),
    "admin_invalid_count": ("{n} か所", "{n} field(s)"),
    "admin_not_here": ("この画面では変更できません", "This cannot be changed here"),
    "admin_groups": ("設定の分類", "Setting groups"),
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
    "admin_passwords_differ": ("パスワードが一致しません", "The two passwords differ"),
    "admin_you": ("あなた", "you"),
    "admin_cannot_disable_self": (
        "自分のアカウントは無効にできません（別の管理者が行います）",
        "You cannot disable your own account (another admin can)",
    ),
    "admin_disable_warning": (
        "{name}（{username}）はすぐにログアウトされ、ログインできなくなります。"
        "あとで「有効にする」で戻せます",
        "{name} ({username}) is signed out at once and cannot sign in until enabled again",
    ),
    "admin_disable_confirm": ("無効にする（すぐにログアウト）", "Disable (signs them out now)"),
    "admin_user_done": ("変更しました", "Done"),
    "admin_unknown_user": ("その職員はいません", "No such user"),
    "admin_audit_title": ("管理 — 監査ログ", "Admin — audit log"),
    "admin_filter_actor": ("操作者", "Actor"),
    "admin_filter_actor_by": ("操作者（ユーザー名）", "Actor (username)"),
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

# What each audit action is, for the audit list (the code stays visible for the filter).
AUDIT_ACTIONS: dict[str, tuple[str, str]] = {
    "account.page": ("自分のアカウントを表示", "viewed own account"),
    "api.read": ("API で確認結果を読み出し", "read answers through the API"),
    "api_token.created": ("API トークンを作成", "created an API token"),
    "api_token.revoked": ("API トークンを失効", "revoked an API token"),
    "bulk.started": ("一括照会を開始", "started a bulk pre-check"),
    "bulk.received": ("一括照会を中央が受付", "bulk batch received by the central"),
    "bulk.answered": ("一括照会の結果を取得", "bulk batch answered"),
    "bulk.failed": ("一括照会が失敗", "bulk batch failed"),
    "bulk.finished": ("一括照会を終了", "finished a bulk pre-check"),
    "reference.registered": ("照会番号を登録", "registered reference numbers"),
    "appliance.restart": ("再起動", "restarted the appliance"),
    "audit.anchor_restarted": ("監査ログの起点を再設定", "restarted the audit anchor"),
    "audit.chain_keyed": ("監査ログの連鎖に鍵を設定", "keyed the audit chain"),
    "audit.retention": ("古い監査ログを削除", "removed old audit entries"),
    "audit.retention_skipped": ("監査ログの削除を保留", "audit removal skipped"),
    "audit.verify": ("監査ログの改ざん検査", "verified the audit chain"),
    "audit.view": ("監査ログを閲覧", "viewed the audit log"),
    "clinical.list": ("診療情報の患者一覧を閲覧", "viewed the clinical list"),
    "clinical.refused": ("診療情報の閲覧を拒否", "clinical view refused"),
    "clinical.view": ("診療情報を閲覧", "viewed clinical information"),
    "confirmation.list": ("確認結果の一覧を閲覧", "viewed the confirmations"),
    "confirmation.offline": ("オフラインで受付", "visit kept offline"),
    "confirmation.raw": ("応答XMLを閲覧", "viewed the answer XML"),
    "confirmation.search": ("患者を検索", "searched patients"),
    "confirmation.stored": ("確認結果を保存", "stored a confirmation"),
    "confirmation.view": ("確認結果を閲覧", "viewed a confirmation"),
    "export.written": ("レセコンへ書き出し", "written for the receipt computer"),
    "login.blocked": ("ログインを一時停止", "sign-in blocked"),
    "login.failure": ("ログイン失敗", "sign-in failed"),
    "login.second_factor": ("二要素の確認", "second factor checked"),
    "login.success": ("ログイン", "signed in"),
    "outbox.alert": ("再照会の知らせ", "re-check alert"),
    "outbox.alert_acknowledged": ("再照会の知らせを確認済みに", "re-check alert acknowledged"),
    "outbox.alerts_view": ("再照会の知らせを閲覧", "viewed re-check alerts"),
    "outbox.answered": ("再照会に回答", "re-check answered"),
    "outbox.ended": ("再照会を終了", "re-check ended"),
    "outbox.gave_up": ("再照会を断念", "re-check given up"),
    "outbox.queued": ("再照会の待ち行列へ", "queued for a re-check"),
    "outbox.recovered": ("再照会を再開", "re-check recovered"),
    "outbox.retry": ("再照会", "re-check sent again"),
    "retention.held": ("保存期間の削除を保留", "retention purge held"),
    "retention.purged": ("保存期間の削除", "retention purge"),
    "retention.refused": ("保存期間の削除を中止", "retention purge refused"),
    "retention.resumed": ("保存期間の削除を再開", "retention purge resumed"),
    "sandbox.page": ("デモ用ページを表示", "viewed the sandbox"),
    "setting.changed": ("設定を変更", "changed a setting"),
    "statement.answered": ("申立書の照会に回答", "statement answered"),
    "statement.awaiting": ("申立書の照会待ち", "statement awaiting an answer"),
    "statement.list": ("申立書の一覧を閲覧", "viewed the statements"),
    "statement.prefill": ("申立書に転記", "statement prefilled"),
    "statement.resolved": ("申立書を解決済みに", "statement resolved"),
    "statement.saved": ("申立書を保存", "statement saved"),
    "statement.show": ("申立書を表示", "statement shown"),
    "statement.view": ("申立書を閲覧", "viewed a statement"),
    "user.created": ("職員を追加", "added a staff user"),
    "user.disabled": ("職員を無効に", "disabled a staff user"),
    "user.enabled": ("職員を有効に", "enabled a staff user"),
    "user.password_changed": ("自分のパスワードを変更", "changed own password"),
    "user.password_reset": ("パスワードを再設定", "reset a password"),
    "user.roles": ("役割を変更", "changed roles"),
    "user.totp_enrolled": ("二要素を登録", "enrolled a second factor"),
    "user.totp_removed": ("二要素を解除", "removed the second factor"),
    "user.totp_reset": ("二要素をリセット", "reset a second factor"),
    "visit.visual_check": ("目視確認", "visual check"),
}

# Who did it, when it was not a person (the appliance's own parts).
AUDIT_ACTORS: dict[str, tuple[str, str]] = {
    "system": ("システム", "system"),
    "reader": ("カードリーダー", "card reader"),
    "anonymous": ("未ログイン", "not signed in"),
    "outbox": ("再照会の処理", "re-check queue"),
    "export": ("レセコンへの書き出し", "export"),
    "terminal": ("資格確認端末", "official terminal"),
    "bulk": ("一括照会", "bulk pre-check"),
    "demo": ("デモ", "demo"),
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
    "backup_dir": (
        "夜間の暗号化バックアップの書き出し先（接続した USB メモリやネットワーク共有。"
        "作成はしません）。空欄はバックアップしない"
    ),
    "backup_passphrase_file": (
        "夜間バックアップのパスフレーズのファイル（実機では systemd の資格情報。chmod 600）"
    ),
    "card_left_alert_s": (
        "確認の終わったカードが読み取り機に置かれたままのとき、受付に知らせるまでの秒数"
        "（キオスクはすぐにカードを取るよう案内します）"
    ),
    "signal_light_url": (
        "状態ランプ・ブザー（docs/signal.md）の接続先。/dev/ttyUSB0、socket://ホスト:ポート、"
        "loop://。空欄は接続なし。外れているときは状態ページに表示し、自動で再接続します"
    ),
    "ticket_printer_url": (
        "受付票プリンタ（ESC/POS）の接続先。/dev/ttyUSB0、socket://ホスト:ポート、loop://。"
        "空欄は接続なし"
    ),
    "ticket_notice": (
        "受付票の番号の下に印字する案内（120 文字以内。空欄は「お呼びするまでお待ちください」）。"
        "個人情報は書かないでください"
    ),
    "backup_keep": "バックアップ先に残す世代数（これより古いものは新しいバックアップの後に削除）",
    "backup_at": (
        "夜間バックアップを行う時刻（日本時間 HH:MM。その時刻に電源が切れていた場合は次の起動時）"
    ),
    "demo": "デモモード（仮想カードのページを表示）。実際の医療機関では使いません",
    "demo_data": "デモ用のシミュレーターのデータ（テスト用 PKI・カード状態）",
    "log_level": "ログの詳しさ（TRAFFIC はカード通信を記録。暗証番号は伏せます）",
    "reader_backend": "カードリーダーの種類。pcsc（pcscd 経由の PC/SC）",
    "web_threads": (
        "画面ごとの要求を処理するスレッド数（画面の自動更新の接続は event_streams_max で"
        "別に数えます）"
    ),
    "web_timeout_s": (
        "接続した端末が要求を送り終えるまで、または次の要求までに待つ秒数。過ぎると接続を閉じます"
    ),
    "event_streams_max": (
        "受付・キオスク画面の自動更新の同時接続数の上限。超えた画面は少し後に自動で再接続します"
    ),
    "disk_reserve_mb": (
        "data_dir に確保しておく予備領域（MiB）。ディスクが満杯になったら解放し、その間も確認結果を"
        "保存できるようにします。0 は予備なし"
    ),
    "retention_max_share": (
        "1回の保存期間削除で消してよい割合の上限。超える場合は何も削除せず管理者に知らせます"
        "（1 は制限なし）"
    ),
    "clock_tolerance_s": (
        "中央サービスの時刻とのずれ・時刻の跳びをどこまで許すか（秒）。超えると保存期間の削除を"
        "保留し、中央の時刻を使います"
    ),
    "outbox_drain_every_s": (
        "再照会の待ち行列を処理する間隔（秒）。中央サービスに接続できなかった番号での確認を再度照会します"
    ),
    "outbox_rate_per_s": "待ち行列の処理中に1秒間に送る再照会の上限",
    "outbox_backoff_base_s": (
        "接続できなかった再照会を次に送るまでの秒数。失敗のたびに2倍（outbox_backoff_max_s まで）"
    ),
    "outbox_backoff_max_s": "1件の再照会の試行の間隔の上限（秒）",
    "bulk_at": (
        "翌日の予約を一括照会する時刻（日本時間 HH:MM。1日1回）。空欄なら夜間の照会をしません"
        "（「今すぐ照会」は使えます）"
    ),
    "bulk_batch_size": (
        "一括照会で1回に送る予約の件数（多いときは分けて送ります。上限は公式の件数）"
    ),
    "bulk_poll_max_s": (
        "一括照会の結果を取りに行く間隔の上限（秒）。1秒から倍にしていきます。"
        "中央サービスが停止中の再試行の間隔も同じです"
    ),
}

# The admin page's sections (device.settings.GROUPS): title and what belongs there.
SETTING_GROUPS: dict[str, tuple[str, str]] = {
    "reader": ("カードリーダー", "Card reader"),
    "kiosk": ("キオスク（患者さんの画面）", "Kiosk (the patient's screen)"),
    "central": ("中央サービスとの接続", "Central service"),
    "security": ("証明書・鍵・時刻", "Certificates, keys and clock"),
    "retention": ("保存期間・ディスク・バックアップ", "Retention, disk and backup"),
    "system": ("本体・画面・ログ", "Appliance, pages and log"),
}

# Each setting's name as the admin page shows it (Japanese, English); the key stays visible.
SETTING_LABELS: dict[str, tuple[str, str]] = {
    "medical_institution_code": ("医療機関コード", "Medical institution code"),
    "data_dir": ("データの保存先", "Data folder"),
    "key_file": ("データベース暗号鍵", "Database key file"),
    "central_url": ("中央サービスの URL", "Central service URL"),
    "central_ca": ("中央サービスの CA 証明書", "Central CA certificate"),
    "device_cert": ("端末のクライアント証明書", "Device certificate"),
    "device_key": ("端末証明書の秘密鍵", "Device private key"),
    "jpki_root_file": ("JPKI ルート証明書", "JPKI root certificate"),
    "export_dir": ("レセコンへの書き出し先", "Export folder for the receipt computer"),
    "export_retry_s": ("書き出しの再試行間隔", "Export retry interval"),
    "central_timeout_s": ("応答の待ち時間", "Request timeout"),
    "central_deadline_s": ("呼び出し全体の上限", "Call deadline"),
    "central_retries": ("再試行の回数", "Retries"),
    "central_connect_timeout_s": ("接続の待ち時間", "Connect timeout"),
    "central_breaker_failures": ("遮断までの失敗回数", "Failures before the circuit opens"),
    "central_breaker_open_s": ("遮断後の再確認まで", "Circuit open time"),
    "central_mode": ("資格確認の経路", "Route to the national system"),
    "terminal_root": ("資格確認端末の共有フォルダ", "Official terminal's shared folder"),
    "terminal_rescan_s": ("応答フォルダの見直し間隔", "Answer folder rescan interval"),
    "terminal_timeout_s": ("資格確認端末の応答の待ち時間", "Terminal answer timeout"),
    "reader": ("使うカードリーダー", "Card reader"),
    "reader_backend": ("カードリーダーの種類", "Reader kind"),
    "staff_host": ("職員画面の待受アドレス", "Staff pages address"),
    "staff_port": ("職員画面のポート", "Staff pages port"),
    "staff_tls_cert": ("職員画面の HTTPS 証明書", "Staff pages certificate"),
    "staff_tls_key": ("職員画面の HTTPS 秘密鍵", "Staff pages private key"),
    "kiosk_port": ("キオスク画面のポート", "Kiosk port"),
    "web_threads": ("処理スレッド数", "Worker threads"),
    "web_timeout_s": ("接続の待ち時間（画面）", "Client timeout"),
    "event_streams_max": ("自動更新の同時接続数", "Live streams at once"),
    "disk_reserve_mb": ("ディスクの予備領域", "Disk reserve"),
    "pin_timeout_s": ("暗証番号の待ち時間", "PIN timeout"),
    "consent_timeout_s": ("同意の回答の待ち時間", "Consent timeout"),
    "staff_timeout_s": ("職員の確認の待ち時間", "Staff check timeout"),
    "kiosk_reset_s": ("最初の画面に戻るまで", "Back to the start after"),
    "consent_kinds": ("同意を確認する情報", "Information asked consent for"),
    "language": ("画面の言語", "Page language"),
    "retention_days": ("確認結果の保存日数", "Days confirmations are kept"),
    "retention_max_share": ("1回で削除する上限割合", "Largest share deleted at once"),
    "clock_tolerance_s": ("許容する時刻のずれ", "Clock tolerance"),
    "audit_retention_days": ("監査ログの保存日数", "Days the audit log is kept"),
    "outbox_drain_every_s": ("再照会の処理間隔", "Re-check queue interval"),
    "outbox_rate_per_s": ("再照会の送信速度", "Re-checks per second"),
    "outbox_backoff_base_s": ("再照会の待ち（初回）", "Re-check first wait"),
    "outbox_backoff_max_s": ("再照会の待ち（上限）", "Re-check longest wait"),
    "outbox_give_up_h": ("再照会をやめるまで", "Stop re-checking after"),
    "bulk_at": ("一括照会の時刻", "Bulk pre-check time"),
    "bulk_batch_size": ("一括照会の1回の件数", "Bulk batch size"),
    "bulk_poll_max_s": ("一括照会の待ち（上限）", "Bulk poll longest wait"),
    "demo": ("デモモード", "Demo mode"),
    "demo_data": ("デモ用データ", "Demo data"),
    "log_level": ("ログの詳しさ", "Log level"),
    "backup_dir": ("バックアップの保存先", "Backup folder"),
    "card_left_alert_s": ("カード置き忘れの通知（秒）", "Card left on the reader alert (s)"),
    "signal_light_url": ("状態ランプの接続先", "Status light port"),
    "ticket_printer_url": ("受付票プリンタの接続先", "Ticket printer port"),
    "ticket_notice": ("受付票の案内文", "Ticket notice"),
    "backup_keep": ("バックアップの保存世代数", "Backups kept"),
    "backup_at": ("バックアップの時刻", "Backup time"),
    "backup_passphrase_file": ("バックアップのパスフレーズ", "Backup passphrase file"),
}
