"""「明日の予約」: the appointments list on the desk — upload the receipt computer's CSV (drag and
drop or the file field; refused lines listed with their reasons, nothing imported), pick a day
(tomorrow by default, in the clinic's time zone by the injected clock), see that day's
appointments with their pre-check class, the counts per class and the summary line
「N件（正常n件・要確認m件）」, and filter to those needing attention. Viewing the list is an
audited view of personal data (device/appointments.py).

Also the words of a pre-check on the desk row of a patient who arrived (`precheck_note`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from device.aidrun import is_aid_recipient
from device.appointments import UPLOAD, AppointmentsRejected
from device.services import Services
from sync.appointments import MAX_BYTES, AppointmentProblem, RowProblem
from sync.clock import JST
from sync.precheck import PrecheckClass
from sync.store import AppointmentRow, Arrival, Confirmation, Store
from web.auth import audit_actor, require_role
from web.field_errors import field_name, identifier_error_text
from web.present import format_birthdate, text

# The routes that take a whole list: a larger body than the staff app's default, set before
# any hook reads the body (web/app.py runs `allow_list_upload` first).
UPLOAD_ENDPOINTS = frozenset({"appointments.upload", "api.appointments_upload"})
UPLOAD_LIMIT = MAX_BYTES + 64 * 1024  # the list and the form around it
DAY_FORMAT = "%Y-%m-%d"


def allow_list_upload() -> None:
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = UPLOAD_LIMIT


def problem_text(problem: RowProblem, lang: str) -> str:
    """Why a line (or the file) was refused, in `lang`."""
    if problem.problem is AppointmentProblem.IDENTIFIER and problem.identifier is not None:
        return identifier_error_text(problem.identifier, lang)
    return text(
        f"appointment_problem_{problem.problem.value}",
        lang,
        field=field_name(problem.field, lang) if problem.field else "",
        limit=problem.limit,
        limit_mb=problem.limit // (1024 * 1024),
        other=problem.other_line,
    )


def problem_lines(rejected: AppointmentsRejected, lang: str) -> list[dict[str, Any]]:
    """Every problem with its line, in line order (the file's own first)."""
    return [
        {
            "line": p.line,
            "where": text("appointments_line", lang, line=p.line)
            if p.line
            else text("appointments_file_problem", lang),
            "field": p.field,
            "reason": problem_text(p, lang),
        }
        for p in sorted(rejected.problems, key=lambda p: p.line)
    ]


def precheck_label(klass: str, lang: str) -> str:
    return text(f"precheck_{klass}", lang)


def precheck_css(klass: str) -> str:
    if not klass:
        return "precheck-none"
    return "precheck-ok" if klass == PrecheckClass.VALID else "precheck-attention"


def precheck_note(store: Store, c: Confirmation, lang: str) -> dict[str, str] | None:
    """The pre-check of the appointment a patient who arrived had today, for the desk row
    ("前夜確認: 有効"), or None: matched by the answer's 照会番号 when it carries one, else by
    the insurance numbers and birth date. The row is still confirmed at the desk as today."""
    return precheck_notes(store, [c], lang)[0]


def precheck_notes(
    store: Store, found: Sequence[Confirmation], lang: str
) -> list[dict[str, str] | None]:
    """`precheck_note` of each answer, in one look-up for them all (a desk page's rows)."""
    arrivals: list[Arrival] = []
    asked: list[int] = []  # the answers that name somebody, in `found`'s order
    for i, c in enumerate(found):
        first = c.summary.results[0] if c.summary.results else None
        if first is None:
            continue
        asked.append(i)
        arrivals.append(
            Arrival(
                first.insurer_number,
                first.symbol,
                first.number,
                first.birthdate,
                c.created_at.astimezone(JST).strftime("%Y%m%d"),
                first.reference_number,
            )
        )
    notes: list[dict[str, str] | None] = [None] * len(found)
    words: dict[str, dict[str, str]] = {}  # per class: the same words on every row
    for i, appointment in zip(asked, store.prechecks_for_arrivals(arrivals), strict=True):
        if appointment is None or not appointment.precheck_class:
            continue
        klass = appointment.precheck_class
        if klass not in words:
            words[klass] = {
                "text": text("precheck_badge", lang, klass=precheck_label(klass, lang)),
                "css": precheck_css(klass),
            }
        notes[i] = {**words[klass], "appointment_id": str(appointment.appointment_id)}
    return notes


def day_view(rows: list[AppointmentRow], lang: str, *, attention_only: bool) -> dict[str, Any]:
    """The rows as shown, the counts per class and the summary line."""
    counts = {klass.value: 0 for klass in PrecheckClass}
    unchecked = 0
    for row in rows:
        if row.precheck_class in counts:
            counts[row.precheck_class] += 1
        else:
            unchecked += 1
    ok = counts[PrecheckClass.VALID]
    attention = len(rows) - ok - unchecked
    shown = [
        r
        for r in rows
        if not attention_only
        or (r.precheck_class and PrecheckClass(r.precheck_class).needs_attention)
    ]
    return {
        "rows": [
            {
                "id": r.id,
                "time": r.at.astimezone(JST).strftime("%H:%M"),
                "patient_number": r.patient_number,
                "kana": r.kana,
                "birthdate": format_birthdate(r.birthdate),
                "insurer_number": r.insurer_number,
                "numbers": " ".join(p for p in (r.symbol, r.number, r.branch) if p),
                "precheck": r.precheck_class,
                "precheck_label": precheck_label(r.precheck_class, lang),
                "precheck_css": precheck_css(r.precheck_class),
            }
            for r in shown
        ],
        "counts": [
            {"klass": k, "label": precheck_label(k, lang), "n": n, "css": precheck_css(k)}
            for k, n in counts.items()
        ],
        "unchecked": unchecked,
        "summary": text("appointments_summary", lang, n=len(rows), ok=ok, attention=attention),
        "total": len(rows),
    }


def aid_marks(store: Store, rows: list[AppointmentRow], day: date, lang: str) -> dict[int, str]:
    """Appointment id → the words of its patient's 医療扶助 ticket for the day's month (only
    the appointments of 医療扶助 recipients; statuses only, nothing decrypted)."""
    month = day.strftime("%Y%m")
    keys = {
        r.id: store.aid_recipient_key(r.insurer_number.strip(), r.number.strip(), r.birthdate)
        for r in rows
        if is_aid_recipient(r)
    }
    if not keys:
        return {}
    kept = store.aid_ticket_status(list(keys.values()), month)
    marks = {}
    for appointment_id, key in keys.items():
        found = kept.get(key)
        if found is None:
            marks[appointment_id] = text("aid_status_none", lang)
        elif found.status in ("1", "6"):
            marks[appointment_id] = text(f"aid_status_{found.status}", lang)
        else:
            marks[appointment_id] = text("aid_status_other", lang)
    return marks


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("appointments", __name__, url_prefix="/appointments")
    bp.before_request(require_role("reception"))
    appointments = services.appointments

    def chosen_day() -> tuple[date, bool]:
        raw = request.args.get("day", "")
        if raw:
            try:
                return datetime.strptime(raw[:10], DAY_FORMAT).date(), False
            except ValueError:
                return appointments.tomorrow(), True
        return appointments.tomorrow(), False

    def page(
        day: date,
        *,
        errors: list[dict[str, Any]] | None = None,
        imported: int | None = None,
        bad_day: bool = False,
        no_file: bool = False,
    ) -> str:
        lang: str = g.lang
        attention_only = request.args.get("attention") == "1"
        rows = appointments.on_day(day, actor=audit_actor())
        view = day_view(rows, lang, attention_only=attention_only)
        marks = aid_marks(services.store, rows, day, lang)
        for shown in view["rows"]:
            shown["aid"] = marks.get(shown["id"], "")
        aid = request.args.get("aid", "")
        return render_template(
            "appointments.html",
            day=day.strftime(DAY_FORMAT),
            is_tomorrow=day == appointments.tomorrow(),
            attention_only=attention_only,
            view=view,
            errors=errors or [],
            imported=imported,
            bad_day=bad_day,
            no_file=no_file,
            max_mb=MAX_BYTES // (1024 * 1024),
            aid_started=int(aid) if aid.isdigit() and len(aid) < 8 else None,
        )

    @bp.get("")
    def list_page() -> ResponseReturnValue:
        day, bad_day = chosen_day()
        imported = request.args.get("imported", "")
        return page(
            day,
            imported=int(imported) if imported.isdigit() and len(imported) < 8 else None,
            bad_day=bad_day,
        )

    @bp.post("")
    def upload() -> ResponseReturnValue:
        day, _ = chosen_day()
        sent = request.files.get("file")
        data = sent.read(UPLOAD_LIMIT) if sent is not None else b""
        if not data:
            return page(day, no_file=True), 400
        try:
            count = appointments.import_csv(data, actor=audit_actor(), source=UPLOAD)
        except AppointmentsRejected as rejected:
            return page(day, errors=problem_lines(rejected, g.lang)), 422
        return redirect(
            url_for(
                "appointments.list_page",
                day=request.form.get("day", "")[:10] or None,
                imported=count,
            ),
            code=303,
        )

    return bp
