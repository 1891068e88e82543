"""Words of the 「明日の予約」 page (web/appointments.py), the appointments list's refusals
(sync.appointments.AppointmentProblem) and the pre-check classes (sync.precheck.PrecheckClass)
as the page and the desk row show them."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    "appointments_link": ("明日の予約", "Appointments"),
    "appointments_title": ("明日の予約", "Tomorrow's appointments"),
    "appointments_day_title": ("{day} の予約", "Appointments on {day}"),
    "appointments_day": ("日付", "Day"),
    "appointments_show": ("表示", "Show"),
    "appointments_upload_title": ("予約一覧の取り込み", "Import the appointments list"),
    "appointments_upload_hint": (
        "レセコンから出力した予約一覧（CSV、Shift_JIS または UTF-8、1 行目は列名）をここに"
        "ドロップするか、ファイルを選んでください。1 行でも誤りがあれば何も取り込みません",
        "Drop the appointments list exported by the receipt computer (CSV, Shift_JIS or UTF-8, "
        "column names on the first line) here, or choose the file. If any line is wrong, "
        "nothing is imported",
    ),
    "appointments_columns_hint": (
        "列: 患者番号・カナ氏名・生年月日・保険者番号・記号・番号・枝番・予約日時"
        "（または 予約日 と 予約時刻）",
        "Columns: patient_number, kana, birthdate, insurer_number, symbol, number, branch, "
        "appointment (or appointment_date and appointment_time)",
    ),
    "appointments_file": ("予約一覧のファイル", "Appointments file"),
    "appointments_drop": ("ここにファイルをドロップ", "Drop the file here"),
    "appointments_upload": ("取り込む", "Import"),
    "appointments_no_file": (
        "ファイルが選ばれていません。ファイルを選んでから「取り込む」を押してください",
        "No file was chosen. Choose the file, then press Import",
    ),
    "appointments_imported": ("{n} 件の予約を取り込みました", "Imported {n} appointments"),
    "appointments_refused": (
        "取り込めませんでした。何も取り込んでいません。次の行を直してもう一度取り込んでください",
        "The list was refused and nothing was imported. Correct these lines and import again",
    ),
    "appointments_refused_count": ("誤り {n} 件", "{n} problems"),
    "appointments_line": ("{line} 行目", "Line {line}"),
    "appointments_file_problem": ("ファイル全体", "Whole file"),
    "appointments_summary": (
        "{n}件（正常{ok}件・要確認{attention}件）",
        "{n} appointments ({ok} fine, {attention} need attention)",
    ),
    "appointments_not_checked": ("未確認 {n} 件", "Not checked yet: {n}"),
    "appointments_only_attention": ("要確認のみ", "Needs attention only"),
    "appointments_show_all": ("すべて表示", "Show all"),
    "appointments_none": ("この日の予約はありません", "No appointments on this day"),
    "appointments_none_attention": ("要確認の予約はありません", "No appointment needs attention"),
    "appointments_col_time": ("予約時刻", "Time"),
    "appointments_col_patient": ("患者番号", "Patient no."),
    "appointments_col_kana": ("カナ氏名", "Name (kana)"),
    "appointments_col_numbers": ("記号・番号・枝番", "Symbol, number, branch"),
    "appointments_col_precheck": ("前夜確認", "Pre-check"),
    "appointments_counts": ("確認結果の内訳", "Pre-check results"),
    "appointments_bad_day": (
        "日付が正しくありません。明日の予約を表示しています",
        "That is not a date. Showing tomorrow's appointments",
    ),
    "api_appointments_type": (
        "予約一覧は Content-Type: text/csv で送ってください",
        "Send the appointments list as Content-Type: text/csv",
    ),
    # the pre-check classes (sync.precheck.PrecheckClass) and "not checked yet"
    "precheck_": ("未確認", "Not checked"),
    "precheck_valid": ("確認済・有効", "Checked, valid"),
    "precheck_invalid": ("資格無効", "Not valid"),
    "precheck_not_found": ("該当なし", "Not found"),
    "precheck_multiple": ("複数該当", "Several matches"),
    "precheck_numbers_differ": ("記号番号の相違", "Numbers differ"),
    "precheck_limit_changed": ("限度額区分の変更あり", "Limit class changed"),
    "precheck_failed": ("照会できず", "Could not be checked"),
    # the desk row of a patient who arrived with an appointment pre-checked
    "precheck_badge": ("前夜確認: {klass}", "Pre-check: {klass}"),
    # why a line of the list was refused (sync.appointments.AppointmentProblem)
    "appointment_problem_too_large": (
        "ファイルが大きすぎます（{limit_mb} MB まで）。日ごとに分けて取り込んでください",
        "The file is too large (at most {limit_mb} MB). Split it by day and import each part",
    ),
    "appointment_problem_too_many_rows": (
        "予約が多すぎます（{limit} 件まで）。日ごとに分けて取り込んでください",
        "Too many appointments (at most {limit}). Split the list by day and import each part",
    ),
    "appointment_problem_encoding": (
        "文字コードが読めません。Shift_JIS か UTF-8 の CSV で出力してください",
        "The text encoding cannot be read. Export the CSV as Shift_JIS or UTF-8",
    ),
    "appointment_problem_not_csv": (
        "CSV として読めません（引用符の閉じ忘れなど）",
        "Not readable as CSV (an unclosed quote?)",
    ),
    "appointment_problem_empty": (
        "予約がありません。1 行目に列名、2 行目から予約を書いてください",
        "No appointments. Put the column names on the first line and appointments below",
    ),
    "appointment_problem_missing_column": (
        "列「{field}」がありません",
        "The column \u201c{field}\u201d is missing",
    ),
    "appointment_problem_columns": (
        "列名より項目が多すぎます",
        "More values than the header has columns",
    ),
    "appointment_problem_missing": ("{field}が空です", "{field} is empty"),
    "appointment_problem_too_long": (
        "{field}が長すぎます（{limit} 文字まで）",
        "{field} is too long (at most {limit} characters)",
    ),
    "appointment_problem_patient_number": (
        "患者番号は半角英数字・-・_ で書いてください",
        "The patient number may hold only letters, digits, - and _",
    ),
    "appointment_problem_kana": (
        "カナ氏名はカタカナで書いてください",
        "The kana name must be written in katakana",
    ),
    "appointment_problem_appointment": (
        "{field}が読めません（例: 2026-12-01 09:30）",
        "{field} cannot be read (e.g. 2026-12-01 09:30)",
    ),
    "appointment_problem_duplicate": (
        "{other} 行目と同じ患者・同じ時刻です",
        "Same patient at the same time as line {other}",
    ),
    # field names of the list's columns not named elsewhere
    "field_patient_number": ("患者番号", "patient number"),
    "field_kana": ("カナ氏名", "kana name"),
    "field_appointment": ("予約日時", "appointment"),
    "field_appointment_date": ("予約日", "appointment date"),
    "field_appointment_time": ("予約時刻", "appointment time"),
}
