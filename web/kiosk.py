"""The patient's screen: place the card, enter the PIN (or ask for staff), consent, take the card.

Served only on the loopback kiosk listener. The PIN travels once, from the keypad to
the visit flow, and is never logged or kept. The JSON content type is required on every POST: a
cross-site form cannot send it without a CORS preflight, which this app never grants.

The listener's gate (install_gate) answers only to its own address: a Host other than
127.0.0.1:<port> or localhost:<port> is refused, so a web page whose name was re-pointed at
127.0.0.1 (DNS rebinding) cannot drive the kiosk; a state change that a browser says comes from
another origin is refused; and of the shared static folder only the kiosk's own files are served.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, Flask, Response, abort, g, jsonify, render_template, request

from device.config import Config
from device.events import (
    CardExpiring,
    CardInGrace,
    CardLeftOnReader,
    CentralDown,
    CentralUp,
    ConsentRequested,
    Event,
    PinBlocked,
    PinRequested,
    ReaderStatus,
    StaffHelpRequested,
    VisitAborted,
    VisitAnswered,
    VisitFailed,
    VisitStarted,
    VisitStateChanged,
)
from device.inputs import ConsentChoice
from device.services import Services
from device.setup import shown
from sync.codes import CONSENT_KINDS, Verdict
from web import sse
from web.inbound import RequestRefused, json_object
from web.labels import consent_kind_text
from web.present import STRINGS, kiosk_screen, reason_text, text

PIN_FORMAT = re.compile(r"[0-9]{4}")
VISIT_ID_FORMAT = re.compile(r"[0-9a-f]{1,64}")
# The files of web/static the kiosk may load: its page's own, and the stylesheet of error.html.
KIOSK_ASSETS = frozenset({"kiosk.css", "kiosk.js", "favicon.svg", "staff.css"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def install_gate(app: Flask, config: Config) -> None:
    """Host on every request, Origin on state changes, and the kiosk's own static files only."""

    @app.before_request
    def kiosk_gate() -> None:
        # The port this listener is bound to (the server says; that is kiosk_port, or the free
        # port picked for kiosk_port = 0); config.kiosk_port when no server says.
        port = request.environ.get("SERVER_PORT") or str(config.kiosk_port)
        hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
        if request.environ.get("HTTP_HOST", "").lower() not in hosts:
            raise RequestRefused(400, "error_kiosk_host")
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("Origin")
            if origin is not None and origin.lower() not in {f"http://{h}" for h in hosts}:
                raise RequestRefused(403, "error_kiosk_origin")
            if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
                raise RequestRefused(403, "error_kiosk_origin")
        if request.endpoint == "static":
            filename = (request.view_args or {}).get("filename")
            if filename not in KIOSK_ASSETS:
                abort(404)


def _consent_kind(kind: str, lang: str) -> tuple[str, str, str]:
    """(kind, name, one line of what it holds); a kind without words shows its key and no
    line rather than failing the kiosk (tests/unit/test_words.py fails instead)."""
    desc = "consent_desc_" + kind
    return kind, consent_kind_text(kind, lang), text(desc, lang) if desc in STRINGS else ""


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("kiosk", __name__, url_prefix="")

    config = services.config

    @bp.get("/")
    def page() -> str:
        # The page's own safety net: a screen nobody answers goes back to the start a little
        # after the visit's own time limit would have ended it.
        longest = max(config.pin_timeout_s, config.consent_timeout_s, config.staff_timeout_s)
        return render_template(
            "kiosk.html",
            default_lang=config.language,
            consent_kinds=[_consent_kind(k, g.lang) for k in CONSENT_KINDS],
            reset_ms=int(config.kiosk_reset_s * 1000),
            idle_ms=int((longest + 15) * 1000),
            central_down=central_down(services),
            setup_code=_setup_code(services),
        )

    @bp.get("/events")
    def events() -> Response:
        lang: str = g.lang
        subscription = services.bus.subscribe()  # before the snapshot: nothing falls between
        return sse.stream(
            subscription, lambda event: kiosk_wire(event, lang), kiosk_initial(services)
        )

    @bp.post("/pin")
    def pin() -> tuple[Response, int]:
        visit_id, body = _visit_body()
        value = body.get("pin")
        if not isinstance(value, str) or not PIN_FORMAT.fullmatch(value):
            abort(400)
        if not services.flow.enter_pin(visit_id, value):
            abort(409)
        return jsonify(ok=True), 202

    @bp.post("/consent")
    def consent() -> tuple[Response, int]:
        visit_id, body = _visit_body()
        answers = body.get("answers")
        visit = services.flow.current
        if visit is None or visit.id != visit_id:
            abort(409)
        # Exactly the kinds asked, each answered yes or no: anything else is a broken page.
        if not isinstance(answers, dict) or set(answers) != set(visit.consent_kinds):
            abort(400)
        if not all(isinstance(v, bool) for v in answers.values()):
            abort(400)
        choice = ConsentChoice(tuple((k, bool(answers[k])) for k in visit.consent_kinds))
        if not services.flow.give_consent(visit_id, choice):
            abort(409)
        return jsonify(ok=True), 202

    @bp.post("/ask-staff")
    def ask_staff() -> tuple[Response, int]:
        visit_id, _body = _visit_body()
        if not services.flow.ask_staff(visit_id):
            abort(409)
        return jsonify(ok=True), 202

    return bp


def _setup_code(services: Services) -> str:
    """The first start's code while no staff user exists: the kiosk is loopback-only, so it is
    as private here as on the console."""
    setup = services.first_start
    code = setup.current() if setup is not None else None
    return shown(code) if code is not None else ""


def _visit_body() -> tuple[str, dict[str, Any]]:
    """The JSON body of a kiosk POST and the visit it is for; 415/400 when malformed."""
    body = json_object()
    visit_id = body.get("visit_id")
    if not isinstance(visit_id, str) or not VISIT_ID_FORMAT.fullmatch(visit_id):
        abort(400)
    return visit_id, body


def central_down(services: Services) -> bool:
    """True while the central service is known to be unreachable (the circuit is open)."""
    return services.reachability.current().down


def kiosk_initial(services: Services) -> list[sse.Wire]:
    """What a freshly (re)loaded kiosk page needs to resume at the right screen."""
    return [*_visit_initial(services), ("central", {"down": central_down(services)})]


def _visit_initial(services: Services) -> list[sse.Wire]:
    visit = services.flow.current
    if visit is None:
        idle: list[sse.Wire] = [("state", {"visit_id": None, "state": "idle", "screen": "welcome"})]
        left = services.flow.card_left
        if left is not None:
            idle.append(("card_left", {"visit_id": left}))
        return idle
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
    elif state == "awaiting_consent":
        out.append(
            ("consent_requested", {"visit_id": visit.id, "kinds": list(visit.consent_kinds)})
        )
    return out


# Visit states whose kiosk screen follows from the answer (VisitAnswered), not from the state.
ANSWERED_STATES = frozenset({"stored", "done"})


def kiosk_date(day: date, lang: str) -> str:
    """A date as a patient reads it: 2026年1月31日 / 31 January 2026."""
    if lang == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {day.strftime('%B')} {day.year}"


def kiosk_wire(event: Event, lang: str) -> sse.Wire | None:
    """Event → (name, data) for the kiosk; results stay on the staff side ("done" only)."""
    data: dict[str, Any]
    if isinstance(event, CentralDown | CentralUp):
        return "central", {"down": isinstance(event, CentralDown)}
    if isinstance(event, VisitStarted):
        return "state", {"visit_id": event.visit_id, "state": "card_placed", "screen": "reading"}
    if isinstance(event, VisitStateChanged):
        if event.state in ANSWERED_STATES:
            return None  # the answer's own event (VisitAnswered) says which screen
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
    if isinstance(event, StaffHelpRequested):
        return "staff_help_requested", {"visit_id": event.visit_id}
    if isinstance(event, ConsentRequested):
        return "consent_requested", {"visit_id": event.visit_id, "kinds": list(event.kinds)}
    if isinstance(event, VisitAborted | VisitFailed):
        name = "visit_aborted" if isinstance(event, VisitAborted) else "visit_failed"
        data = {
            "visit_id": event.visit_id,
            "reason": event.reason,
            "text": reason_text(event.reason, lang, kiosk=True),
        }
        return name, data
    if isinstance(event, VisitAnswered):
        # "Done" only for a valid answer: not found, invalid or an error is the desk's to say.
        return "done", {
            "visit_id": event.visit_id,
            "desk": event.verdict != Verdict.VALID.value,
        }
    if isinstance(event, CardExpiring):
        return "card_notice", {
            "visit_id": event.visit_id,
            "kind": "renew",
            "date": kiosk_date(event.expires_on, lang),
        }
    if isinstance(event, CardInGrace):
        return "card_notice", {
            "visit_id": event.visit_id,
            "kind": "grace",
            "date": kiosk_date(event.expired_on, lang),
        }
    if isinstance(event, CardLeftOnReader):
        return "card_left", {"visit_id": event.visit_id}
    if isinstance(event, ReaderStatus):
        return "reader_status", {"available": event.available, "card_present": event.card_present}
    return None
