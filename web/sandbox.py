"""Demo only: place and remove virtual cards from the staff listener.

Registered only when config.demo is on and a CardSandbox exists. Cross-site requests are
refused with a per-process token in a hidden form field: a page on another origin cannot
read it, and it changes on every restart. (Staff logins bring per-session CSRF tokens later.)
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from device.sandbox import CardSandbox
from device.services import Services

log = logging.getLogger(__name__)


def create_blueprint(services: Services, cards: CardSandbox) -> Blueprint:
    bp = Blueprint("sandbox", __name__, url_prefix="")
    token = secrets.token_urlsafe(32)

    def check_token() -> None:
        sent = request.form.get("token", "")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            abort(400)

    @bp.get("/sandbox")
    def page() -> str:
        return render_template(
            "sandbox.html",
            people=cards.people(),
            placed=cards.placed,
            token=token,
            kiosk_url=f"http://127.0.0.1:{services.config.kiosk_port}/",
        )

    @bp.post("/sandbox/place")
    def place() -> Response:
        check_token()
        person_id = request.form.get("person_id", "")
        try:
            cards.place(person_id)
        except KeyError:
            abort(400)
        log.info("sandbox: virtual card %s placed", person_id)
        return redirect(url_for("sandbox.page"), code=303)

    @bp.post("/sandbox/remove")
    def remove() -> Response:
        check_token()
        cards.remove()
        log.info("sandbox: virtual card removed")
        return redirect(url_for("sandbox.page"), code=303)

    return bp
