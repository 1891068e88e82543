"""Reception desk: today's confirmations and the reader's state, live; 目視確認 for a waiting visit.

Events on the wire carry ids and states only; the page fetches a row by id, and that fetch
is the audited view of personal data, recorded under the signed-in staff user.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, render_template, request

from device.events import (
    ConfirmationStored,
    ConsentRequested,
    Event,
    PinBlocked,
    PinRequested,
    ReaderStatus,
    StaffHelpRequested,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
    VisualCheckChosen,
)
from device.flow import reason_text
from device.services import Services
from sync.clock import utc_now
from sync.store import Confirmation
from web import sse
from web.auth import current_user, require_role
from web.present import DESK_STATES, confirmation_row, desk_state_label, start_of_today

TODAY_LIMIT = 500
VISIT_ID_FORMAT = re.compile(r"[0-9a-f]{1,64}")
# States in which reception may switch the visit to 目視確認.
VISUAL_STATES = ("awaiting_pin", "awaiting_staff", "pin_blocked")


def actor() -> str:
    """The signed-in staff user (the gate guarantees one) for audit entries."""
    user = current_user()
    if user is None:  # the role gate runs first; reaching here means a wiring error
        abort(401)
    return user.username


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("reception", __name__, url_prefix="")
    bp.before_request(require_role("reception"))
    store = services.store

    def row(c: Confirmation, lang: str) -> dict[str, Any]:
        staff = ""
        if c.method == "visual" and c.visit_id:
            visit = store.visit(c.visit_id)
            staff = visit.staff if visit else ""
        return confirmation_row(c, lang, staff)

    def today_rows(lang: str) -> list[dict[str, Any]]:
        since = start_of_today(utc_now())
        rows = [row(c, lang) for c in store.recent_confirmations(since, TODAY_LIMIT)]
        store.audit(actor(), "confirmation.list", "confirmations:today", f"rows={len(rows)}")
        return rows

    @bp.get("/")
    def desk() -> str:
        lang: str = g.lang
        return render_template(
            "reception.html",
            rows=today_rows(lang),
            initial=desk_initial(services, lang),
            state_labels={k: desk_state_label(k, lang) for k in DESK_STATES},
        )

    @bp.get("/api/confirmations")
    def confirmations() -> Response:
        if request.args.get("since", "today") != "today":
            abort(400)
        return jsonify(confirmations=today_rows(g.lang))

    @bp.get("/api/confirmations/<int:confirmation_id>")
    def confirmation(confirmation_id: int) -> Response:
        found = store.confirmation(confirmation_id)
        if found is None:
            abort(404)
        store.audit(actor(), "confirmation.view", f"confirmation:{confirmation_id}")
        return jsonify(row(found, g.lang))

    @bp.post("/api/visits/<visit_id>/visual")
    def visual_check(visit_id: str) -> tuple[Response, int]:
        """目視確認: staff looked at the card's photo and the patient; no PIN is used."""
        if not VISIT_ID_FORMAT.fullmatch(visit_id):
            abort(404)
        if not services.flow.switch_to_visual(visit_id, actor()):
            abort(409)
        return jsonify(ok=True), 202

    @bp.get("/events")
    def events() -> Response:
        lang: str = g.lang
        subscription = services.bus.subscribe()  # before the snapshot: nothing falls between
        return sse.stream(
            subscription,
            lambda event: staff_wire(event, lang),
            [("desk", desk_initial(services, lang))],
        )

    return bp


def desk_initial(services: Services, lang: str) -> dict[str, Any]:
    """The desk's state right now, for the page's first paint and each (re)connect."""
    visit = services.flow.current
    if visit is None:
        return {"visit_id": None, "state": "idle", "label": desk_state_label("idle", lang)}
    state = visit.state.value
    data: dict[str, Any] = {
        "visit_id": visit.id,
        "state": state,
        "label": desk_state_label(state, lang),
    }
    if state == "awaiting_pin" and visit.tries_left is not None:
        data["tries_left"] = visit.tries_left
    data["visual_possible"] = state in VISUAL_STATES
    data["method"] = visit.method
    data["staff"] = visit.staff
    return data


def staff_wire(event: Event, lang: str) -> sse.Wire | None:
    """Event → (name, data) for reception; no personal data ever goes on this wire."""
    if isinstance(event, VisitStarted):
        return "visit_started", {"visit_id": event.visit_id, "at": event.at.isoformat()}
    if isinstance(event, VisitStateChanged):
        return "visit_state_changed", {
            "visit_id": event.visit_id,
            "state": event.state,
            "label": desk_state_label(event.state, lang),
        }
    if isinstance(event, PinRequested):
        return "pin_requested", {"visit_id": event.visit_id, "tries_left": event.tries_left}
    if isinstance(event, PinBlocked):
        return "pin_blocked", {"visit_id": event.visit_id}
    if isinstance(event, StaffHelpRequested):
        return "staff_help_requested", {"visit_id": event.visit_id}
    if isinstance(event, VisualCheckChosen):
        return "visual_check_chosen", {"visit_id": event.visit_id, "staff": event.staff}
    if isinstance(event, ConsentRequested):
        return None  # the state change says the patient is answering; the kinds are theirs
    if isinstance(event, VisitAborted | VisitFailed):
        name = "visit_aborted" if isinstance(event, VisitAborted) else "visit_failed"
        return name, {
            "visit_id": event.visit_id,
            "reason": event.reason,
            "text": reason_text(event.reason, lang),
        }
    if isinstance(event, ConfirmationStored):
        return "confirmation_stored", {"confirmation_id": event.confirmation_id}
    if isinstance(event, ReaderStatus):
        return "reader_status", {
            "reader": event.reader,
            "available": event.available,
            "card_present": event.card_present,
            "label": desk_state_label("idle" if event.available else "reader_unavailable", lang),
        }
    return None
