"""Demo only: place and remove virtual cards, and switch the simulated central's failure modes
(down, slow, flapping, answers changed after recovery), from the staff listener.

Two readers: this box's (a virtual card on the vpcd reader) and, with central_mode = folders,
the simulated official terminal's (device/sandbox.py OfficialReader: the terminal writes a face
file that the desk shows). In folders mode there is no simulated central to switch: the
terminal's folders are the only channel. The page also lists the numbers of the people who hold
a 資格確認書, to try the numbers check with.

Registered only when config.demo is on and a CardSandbox exists; reception staff only. Its forms
carry the session's CSRF token, checked for every POST of the staff app (web/auth.py).
"""

from __future__ import annotations

import logging
import math

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from device.central_sandbox import CentralSandbox, SimControlError, SimMode
from device.sandbox import CardSandbox, OfficialReader, OfficialReaderError
from device.services import Services
from web.auth import require_role

log = logging.getLogger(__name__)


MAX_SLOW_S = 600.0  # the simulator's own limits (sim/central/faults.py)
MIN_FLAP_S, MAX_FLAP_S = 1.0, 86_400.0


def create_blueprint(
    services: Services,
    cards: CardSandbox,
    central: CentralSandbox | None = None,
    official: OfficialReader | None = None,
) -> Blueprint:
    bp = Blueprint("sandbox", __name__, url_prefix="")
    bp.before_request(require_role("reception"))
    config = services.config
    folders = config.central_mode == "folders"
    if central is None:
        central = CentralSandbox(config.demo_data)
    sim = central
    if official is None and folders:
        official = OfficialReader(config.terminal_root)
    terminal = official

    def render(central_error: bool = False, official_error: bool = False) -> str:
        state = None
        if not central_error and not folders:
            try:
                state = sim.state()
            except SimControlError as exc:
                log.info("sandbox: simulator control unavailable: %s", exc)
        people = cards.people()
        return render_template(
            "sandbox.html",
            people=people,
            certificate_holders=[p for p in people if p.certificate],
            placed=cards.placed,
            kiosk_url=f"http://127.0.0.1:{config.kiosk_port}/",
            central=state,
            central_error=central_error or state is None,
            modes=list(SimMode),
            folders=folders,
            terminal_root=str(config.terminal_root) if folders else "",
            official_last=terminal.last if terminal is not None else None,
            official_error=official_error,
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

    @bp.post("/sandbox/official")
    def place_official() -> Response | tuple[str, int]:
        person_id = request.form.get("person_id", "")
        if terminal is None:
            abort(404)  # not in folders mode: there is no official terminal to place it on
        if person_id not in {p.id for p in cards.people() if p.has_card}:
            abort(400)
        try:
            terminal.place(person_id)
        except OfficialReaderError as exc:
            log.warning("sandbox: the simulated terminal did not take the card: %s", exc)
            return render(official_error=True), 502
        log.info("sandbox: card %s placed on the official terminal's reader", person_id)
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
