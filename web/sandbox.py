"""Demo only: place and remove virtual cards from the staff listener.

Registered only when config.demo is on and a CardSandbox exists; reception staff only. Its forms
carry the session's CSRF token, checked for every POST of the staff app (web/auth.py).
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from device.sandbox import CardSandbox
from device.services import Services
from web.auth import require_role

log = logging.getLogger(__name__)


def create_blueprint(services: Services, cards: CardSandbox) -> Blueprint:
    bp = Blueprint("sandbox", __name__, url_prefix="")
    bp.before_request(require_role("reception"))

    @bp.get("/sandbox")
    def page() -> str:
        return render_template(
            "sandbox.html",
            people=cards.people(),
            placed=cards.placed,
            kiosk_url=f"http://127.0.0.1:{services.config.kiosk_port}/",
        )

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
