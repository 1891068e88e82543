"""The admin status page in words: each item's name ("status_<kind>", device.status.StatusKind)
and what it found ("status_<fact>", device.status.Fact). The page shows a finding in the
reader's language, so each side says it all (the same values in both). Merged into
present.STRINGS; read them with web/status_rows.py.
"""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # what each item is about
    "status_readers": ("カードリーダー", "Card readers"),
    "status_pcscd": ("PC/SC (pcscd)", "PC/SC (pcscd)"),
    "status_central": ("中央サービス", "Central service"),
    "status_circuit": ("オンライン資格確認の接続", "Online eligibility check"),
    "status_clock": ("時刻", "Clock"),
    "status_certificate": ("端末証明書", "Device certificate"),
    "status_jpki_root": ("JPKI ルート証明書", "JPKI root certificate"),
    "status_export": ("レセコンへの書き出し", "Files for the receipt computer"),
    "status_database": ("データベース", "Database"),
    "status_errors": ("最近の警告・エラー", "Recent warnings and errors"),
    "status_retention": ("保存期間の削除", "Retention purge"),
    "status_peripherals": ("状態ランプ・受付票プリンタ", "Status light and ticket printer"),
    # what an item found
    "status_unknown": ("不明", "unknown"),
    "status_error": ("エラー", "error"),
    "status_running": ("応答あり", "running"),
    "status_not_running": ("応答なし", "not running"),
    "status_unreachable": ("接続できません", "unreachable"),
    "status_readers_connected": ("{count} 台", "{count} connected"),
    "status_readers_none": ("未接続", "none connected"),
    "status_reader_card_present": ("カードあり", "card present"),
    "status_reader_card_none": ("カードなし", "no card"),
    "status_reader_card_unknown": ("不明", "unknown"),
    "status_reader_missing": (
        "設定のリーダー {reader} がありません",
        "the configured reader {reader} is missing",
    ),
    "status_central_reachable": ("応答あり {ms} ms", "reachable, {ms} ms round trip"),
    "status_circuit_closed": ("接続できています", "reachable: checks go through"),
    "status_circuit_open": (
        "{at} から接続できません（遮断中）",
        "unreachable since {at} JST (circuit open: calls fail at once)",
    ),
    "status_circuit_probing": ("再接続を確認しています", "probing whether the central is back"),
    "status_circuit_what_to_do": (
        "受付は資格確認書・マイナポータル等で資格を確認し、通常の負担割合で会計します。"
        "ネットワーク・VPN・回線を確認してください。復旧すると自動で解除されます",
        "reception confirms by the qualification certificate or Mynaportal and charges the usual "
        "share. "
        "Check the network, VPN and line; this clears by itself once the central answers",
    ),
    "status_ntp_yes": ("NTP 同期済み", "NTP synchronised"),
    "status_ntp_no": ("NTP 未同期", "NTP not synchronised"),
    "status_ntp_unknown": ("NTP 状態不明", "NTP state unknown"),
    "status_clock_ahead": (
        "中央より{size}進み ({offset} 秒)",
        "{size} ahead of the central ({offset} s)",
    ),
    "status_clock_behind": (
        "中央より{size}遅れ ({offset} 秒)",
        "{size} behind the central ({offset} s)",
    ),
    "status_clock_offset_unknown": ("ずれ不明", "offset unknown"),
    "status_clock_jump": ("時刻の跳び {size}（{at} 日本時間）", "clock jump {size} → {at} JST"),
    "status_retention_waits": (
        "時刻が信頼できるまで保存期間の削除は保留します。NTP と時刻設定を確認してください",
        "retention purges wait until the clock is trusted: check NTP and the time settings",
    ),
    "status_retention_none": ("削除対象なし", "nothing purged yet"),
    "status_retention_ran": ("実行 {when}", "ran {when}"),
    "status_retention_held": ("保留 {when}", "held {when}"),
    "status_retention_held_why": (
        "時刻が信頼できないため削除を保留しました",
        "held: the clock is not trusted",
    ),
    "status_retention_refused": ("中止 {when}", "refused {when}"),
    "status_retention_refused_why": (
        "削除すると多すぎる、または前回より新しい行が消えるため何も削除していません。"
        "時刻を確認し、意図した削除なら retention_max_share を一時的に上げてください",
        "nothing was deleted: the run would have deleted too much or rows newer than the last "
        "run saw. Check the clock; if intended, raise retention_max_share for one run",
    ),
    "status_cert_unreadable": ("読めません", "cannot be read"),
    "status_cert_expired": ("期限切れ", "expired"),
    "status_cert_days_left": ("残り {days} 日", "{days} days left"),
    "status_cert_expires": ("有効期限 {at}（日本時間）", "expires {at} JST"),
    "status_jpki_root_none": ("未設定", "not configured"),
    "status_terminal_folders": (
        "資格確認端末のフォルダ経由（{root}）",
        "through the official terminal's folders ({root})",
    ),
    "status_terminal_folder_missing": (
        "{folder} がないか書き込めません（共有フォルダの接続を確認してください）",
        "{folder} is missing or not writable (check that the share is mounted)",
    ),
    "status_export_off": ("書き出さない設定（export_dir 未設定）", "off (export_dir not set)"),
    "status_export_written": ("{count} 件書き出し済み", "{count} written"),
    "status_export_pending": ("{count} 件が書き出し待ち", "{count} waiting to be written"),
    "status_export_folder_missing": (
        "フォルダ {folder} に書き込めません",
        "the folder {folder} cannot be written to",
    ),
    "status_export_what_to_do": (
        "共有フォルダの接続とアクセス権を確認してください。書けるようになると、待っているファイル"
        "は自動で書き出されます（記録は失われません）",
        "Check that the share is mounted and writable. Once it is, the waiting files are "
        "written by themselves (nothing is lost)",
    ),
    "status_jpki_root_what_to_do": (
        "オフライン時のカード確認にはJPKI ルート証明書の設定が必要です。J-LIS が公開する"
        "利用者証明用ルート証明書を端末に置き、設定 jpki_root_file にそのパスを書いて再起動"
        "してください。それまで中央サービスに接続できないときは、カードでの本人確認はできません",
        "Checking cards while the central is unreachable needs the JPKI root certificate. Put "
        "the JPKI user-authentication root certificate published by J-LIS on the box, set "
        "jpki_root_file to its path and restart. Until then a card cannot prove the patient "
        "while the central is unreachable",
    ),
    "status_database_size": ("{size} (DB + WAL)", "{size} (DB + WAL)"),
    "status_database_labelled_size": (
        "データベース {size} (DB + WAL)",
        "database: {size} (DB + WAL)",
    ),
    "status_disk_free": ("空き容量 {free}", "free space: {free}"),
    "status_disk_nearly_full": ("ディスクがほぼ満杯: 空き {free}", "disk nearly full: {free} free"),
    "status_disk_full": ("ディスクが満杯: 空き {free}", "disk full: {free} free"),
    "status_disk_reserve_in_use": (
        "予備領域 {reserve} を使用中です。古いログや不要なファイルを削除して空きを確保して"
        "ください。空きができると予備領域は自動で作り直されます",
        "The {reserve} reserve is in use. Free space (old logs, unneeded files); the reserve is "
        "made again by itself once there is room",
    ),
    "status_log_records": ("{count} 件", "{count} records"),
    "status_log_none": ("なし", "none"),
    "status_peripherals_none": ("接続しない設定", "none configured"),
    "status_peripherals_connected": ("{count} 台接続", "{count} connected"),
    "status_peripherals_unplugged": ("{count} 台が未接続", "{count} unplugged"),
    "status_peripherals_what_to_do": (
        "USB ケーブルと電源を確認してください。つなぎ直すと自動で再接続します（再起動は不要、"
        "受付はそのまま続けられます）",
        "Check the USB cable and power. Once plugged in again it reconnects by itself (no "
        "restart needed; visits go on meanwhile)",
    ),
    "status_light_connected": ("状態ランプ {url}: {shown}", "Status light {url}: {shown}"),
    "status_light_unplugged": (
        "状態ランプ {url}: {at} から未接続",
        "Status light {url}: unplugged since {at}",
    ),
    "status_printer_connected": ("受付票プリンタ {url}: 接続", "Ticket printer {url}: connected"),
    "status_printer_unplugged": (
        "受付票プリンタ {url}: {at} から未接続",
        "Ticket printer {url}: unplugged since {at}",
    ),
}
