"""Demo only: place and remove virtual cards, and switch the simulated central's failure modes
(down, slow, flapping, answers changed after recovery), from the staff listener.

Registered only when config.demo is on and a CardSandbox exists; reception staff only. Its forms
carry the session's CSRF token, checked for every POST of the staff app (web/auth.py).
"""

from __future__ import annotations

import logging
import math

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from device.central_sandbox import CentralSandbox, SimControlError, SimMode
from device.sandbox import CardSandbox
from device.services import Services
from web.auth import require_role

log = logging.getLogger(__name__)


MAX_SLOW_S = 600.0  # the simulator's own limits (sim/central/faults.py)
MIN_FLAP_S, MAX_FLAP_S = 1.0, 86_400.0


def create_blueprint(
    services: Services, cards: CardSandbox, central: CentralSandbox | None = None
) -> Blueprint:
    bp = Blueprint("sandbox", __name__, url_prefix="")
    bp.before_request(require_role("reception"))
    if central is None:
        central = CentralSandbox(services.config.demo_data)
    sim = central

    def render(central_error: bool = False) -> str:
        state = None
        if not central_error:
            try:
                state = sim.state()
            except SimControlError as exc:
                log.info("sandbox: simulator control unavailable: %s", exc)
        return render_template(
            "sandbox.html",
            people=cards.people(),
            placed=cards.placed,
            kiosk_url=f"http://127.0.0.1:{services.config.kiosk_port}/",
            central=state,
            central_error=central_error or state is None,
            modes=list(SimMode),
        )

    @bp.get("/sandbox")
    def page() -> str:
        return render()

    @bp.post("/sandbox/central")
    def central_mode() -> Response | tuple[str, int]:
        try:
            mode = SimMode(request.form.get("mode", ""))
        except ValueError:
            abort(400)
        slow_s = _seconds(request.form.get("slow_s", ""), 0.0, MAX_SLOW_S)
        flap_s = _seconds(request.form.get("flap_s", ""), MIN_FLAP_S, MAX_FLAP_S)
        changed = request.form.get("changed_after_recovery") == "on"
        try:
            sim.switch(mode, slow_s=slow_s, flap_s=flap_s, changed_after_recovery=changed)
        except SimControlError as exc:
            log.warning("sandbox: could not switch the simulated central: %s", exc)
            return render(central_error=True), 502
        log.info("sandbox: simulated central switched to %s", mode.value)
        return redirect(url_for("sandbox.page"), code=303)

    @bp.post("/sandbox/place")
    def place() -> Response:
        person_id = request.form.get("person_id", "")
        try:
            cards.place(person_id)
        except KeyError:
            abort(400)
        log.info("sandbox: virtual card %s placed", person_id)
        return redirect(url_for("sandbox.page"), code=303)

    @bp.post("/sandbox/remove")
    def remove() -> Response:
        cards.remove()
        log.info("sandbox: virtual card removed")
        return redirect(url_for("sandbox.page"), code=303)

    return bp


def _seconds(raw: str, low: float, high: float) -> float:
    """A number of seconds from the form, within the simulator's limits; 400 otherwise."""
    try:
        value = float(raw)
    except ValueError:
        abort(400)
    if not math.isfinite(value) or not low <= value <= high:
        abort(400)
    return value
