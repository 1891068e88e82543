"""The patient's screen: place the card, enter the PIN, take the card.

Served only on the loopback kiosk listener. The PIN travels once, from the keypad to
KioskPins, and is never logged or kept. The JSON content type is required on POST /pin: a
cross-site form cannot send it without a CORS preflight, which this app never grants.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, render_template, request

from device.events import (
    ConfirmationStored,
    Event,
    PinBlocked,
    PinRequested,
    ReaderStatus,
    VisitAborted,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.flow import reason_text
from device.services import Services
from web import sse
from web.present import kiosk_screen

PIN_FORMAT = re.compile(r"[0-9]{4}")
VISIT_ID_FORMAT = re.compile(r"[0-9a-f]{1,64}")


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("kiosk", __name__, url_prefix="")

    @bp.get("/")
    def page() -> str:
        return render_template("kiosk.html", default_lang=services.config.language)

    @bp.get("/events")
    def events() -> Response:
        lang: str = g.lang
        subscription = services.bus.subscribe()  # before the snapshot: nothing falls between
        return sse.stream(
            subscription, lambda event: kiosk_wire(event, lang), kiosk_initial(services)
        )

    @bp.post("/pin")
    def pin() -> tuple[Response, int]:
        if request.mimetype != "application/json":
            abort(415)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400)
        visit_id, value = body.get("visit_id"), body.get("pin")
        if not isinstance(visit_id, str) or not VISIT_ID_FORMAT.fullmatch(visit_id):
            abort(400)
        if not isinstance(value, str) or not PIN_FORMAT.fullmatch(value):
            abort(400)
        if not services.pins.submit(visit_id, value):
            abort(409)
        return jsonify(ok=True), 202

    return bp


def kiosk_initial(services: Services) -> list[sse.Wire]:
    """What a freshly (re)loaded kiosk page needs to resume at the right screen."""
    visit = services.flow.current
    if visit is None:
        return [("state", {"visit_id": None, "state": "idle", "screen": "welcome"})]
    state = visit.state.value
    screen = kiosk_screen(state) or "reading"
    out: list[sse.Wire] = [("state", {"visit_id": visit.id, "state": state, "screen": screen})]
    if state == "awaiting_pin" and visit.tries_left is not None:
        out.append(
            (
                "pin_requested",
                {
                    "visit_id": visit.id,
                    "tries_left": visit.tries_left,
                    "wrong_pin": False,
                },
            )
        )
    elif state == "pin_blocked":
        out.append(("pin_blocked", {"visit_id": visit.id}))
    return out


def kiosk_wire(event: Event, lang: str) -> sse.Wire | None:
    """Event → (name, data) for the kiosk; results stay on the staff side ("done" only)."""
    data: dict[str, Any]
    if isinstance(event, VisitStarted):
        return "state", {"visit_id": event.visit_id, "state": "card_placed", "screen": "reading"}
    if isinstance(event, VisitStateChanged):
        screen = kiosk_screen(event.state)
        if screen is None:
            return None  # aborted / failed arrive as their own events with the reason
        return "state", {"visit_id": event.visit_id, "state": event.state, "screen": screen}
    if isinstance(event, PinRequested):
        return "pin_requested", {
            "visit_id": event.visit_id,
            "tries_left": event.tries_left,
            "wrong_pin": event.wrong_pin,
        }
    if isinstance(event, PinBlocked):
        return "pin_blocked", {"visit_id": event.visit_id}
    if isinstance(event, VisitAborted | VisitFailed):
        name = "visit_aborted" if isinstance(event, VisitAborted) else "visit_failed"
        data = {
            "visit_id": event.visit_id,
            "reason": event.reason,
            "text": reason_text(event.reason, lang),
        }
        return name, data
    if isinstance(event, ConfirmationStored):
        return "done", {"visit_id": event.visit_id}
    if isinstance(event, ReaderStatus):
        return "reader_status", {"available": event.available, "card_present": event.card_present}
    return None
