"""Words of the bulk pre-check (一括照会): the progress bar, its summary, the buttons, and the
desk alert of a batch that got no answers (device/bulkrun.py hands over RunState values)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "bulk_state_running": ("一括照会中", "Checking in bulk"),
    "bulk_state_waiting": ("待機中（中央サービス停止）", "Waiting (central service down)"),
    "bulk_state_done": ("{day} の予約の一括照会が終わりました", "Bulk check of {day} finished"),
    "bulk_state_failed": (
        "一括照会の一部ができませんでした（要確認に含めています）",
        "Part of the bulk check got no answers (counted as to check)",
    ),
    "bulk_progress": ("{day} の予約 {done}/{total}件", "Appointments of {day}: {done} of {total}"),
    "bulk_summary": (
        "{total}件（正常{normal}件・要確認{attention}件）",
        "{total} appointments ({normal} normal, {attention} to check)",
    ),
    "bulk_progress_label": ("一括照会の進み具合", "Bulk check progress"),
    "bulk_run_now": ("今すぐ照会", "Check now"),
    "bulk_run_now_hint": (
        "明日の予約をいま一括照会します（夜間の照会を待たずに）",
        "Check tomorrow's appointments in bulk now (without waiting for the nightly run)",
    ),
    "bulk_started": ("一括照会を始めました", "The bulk check has started"),
    "bulk_nothing": ("明日の予約はありません", "There are no appointments tomorrow"),
    "bulk_register": ("照会番号を登録", "Register reference numbers"),
    "bulk_registered": (
        "照会番号を{count}件登録しました",
        "Registered {count} reference numbers",
    ),
    "bulk_register_failed": (
        "照会番号を登録できませんでした。中央サービスにつながってから、もう一度押してください",
        "No reference numbers were registered. Press again once the central service answers",
    ),
    "bulk_unavailable": (
        "一括照会はこの画面からは使えません。管理者にご連絡ください",
        "The bulk check is not available here. Please contact the administrator",
    ),
    "desk_alert_bulk_failed": (
        "明日の予約の一括照会の一部が中央サービスに受け付けられませんでした。"
        "「明日の予約」で要確認の方を確認し、来院時に照会してください",
        "Part of the bulk check of tomorrow's appointments was not accepted by the central "
        "service. See 「明日の予約」 for the patients to check and confirm them on arrival",
    ),
}
