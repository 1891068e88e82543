"""The bulk pre-check (一括照会) from the desk: 「今すぐ照会」, 「照会番号を登録」 and the run's
progress as JSON. The progress itself is pushed on the desk's event stream (BulkProgress →
`bulk_progress`, see `bulk_wire`); the status route is for a page that was just opened.

Reception role; every POST passes the CSRF check (web/auth.py). Counts and codes only: no
personal data leaves here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from device.bulkrun import BulkRuns, RunState
from device.events import BulkProgress
from device.services import Services
from web.auth import audit_actor, require_role
from web.present import text


def day_text(day: str) -> str:
    """YYYYMMDD as the desk shows a date: M/D."""
    if len(day) != 8 or not day.isdigit():
        return day
    return f"{int(day[4:6])}/{int(day[6:8])}"


def _iso(day: str) -> str:
    """YYYYMMDD as the list page's date field takes it (YYYY-MM-DD)."""
    return f"{day[:4]}-{day[4:6]}-{day[6:8]}" if len(day) == 8 and day.isdigit() else ""


def bulk_wire(progress: BulkProgress | None, lang: str) -> dict[str, Any]:
    """A run's progress as the desk's bar and summary show it (what the event carries, in
    words); {"state": ""} when no run was ever made."""
    if progress is None:
        return {"state": ""}
    state = RunState(progress.state)
    finished = state in (RunState.DONE, RunState.FAILED)
    return {
        "run_id": progress.run_id,
        "day": progress.day,
        "total": progress.total,
        "done": progress.done,
        "normal": progress.normal,
        "attention": progress.attention,
        "state": state.value,
        "finished": finished,
        "label": text(f"bulk_state_{state.value}", lang, day=day_text(progress.day)),
        "list_day": _iso(progress.day),
        "progress": text(
            "bulk_progress",
            lang,
            day=day_text(progress.day),
            done=progress.done,
            total=progress.total,
        ),
        "summary": text(
            "bulk_summary",
            lang,
            total=progress.total,
            normal=progress.normal,
            attention=progress.attention,
        ),
    }


def current(services: Services, lang: str) -> dict[str, Any]:
    """The newest run of tomorrow (else the newest at all), for a page as it opens."""
    bulk = services.bulk
    if bulk is None:
        return {"state": ""}
    return bulk_wire(bulk.latest(bulk.tomorrow()) or bulk.latest(), lang)


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("bulk", __name__, url_prefix="/bulk")
    bp.before_request(require_role("reception"))

    def runs() -> BulkRuns | None:
        return services.bulk

    def unavailable() -> ResponseReturnValue:
        return jsonify(ok=False, message=text("bulk_unavailable", g.lang)), 503

    @bp.app_context_processor
    def bulk_context() -> dict[str, Any]:
        # for a page that shows the bar ({% include "_bulk_progress.html" %}, 「明日の予約」)
        return {"bulk_status": lambda: current(services, g.lang)}

    @bp.get("/status")
    def status() -> ResponseReturnValue:
        return jsonify(current(services, g.lang))

    @bp.post("/run")
    def run_now() -> ResponseReturnValue:
        bulk = runs()
        if bulk is None:
            return unavailable()
        run = bulk.start_tomorrow(actor=audit_actor())
        message = text("bulk_started" if run.total else "bulk_nothing", g.lang)
        return jsonify(ok=True, message=message, run=bulk_wire(bulk.progress(run.id), g.lang))

    @bp.post("/register")
    def register() -> ResponseReturnValue:
        bulk = runs()
        if bulk is None:
            return unavailable()
        count = bulk.register_day(bulk.tomorrow(), actor=audit_actor())
        return jsonify(ok=True, count=count, message=text("bulk_registered", g.lang, count=count))

    return bp
