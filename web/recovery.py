"""The recovery sheet: the store key as text and a QR code, printed once and kept with the
backup passphrase, so a copy of the database can be read on a new SD card.

Admins only (the admin gate: role admin and a session past the second factor). The key is shown
only in the answer to a POST (CSRF-checked, never in a URL), the page is not cached, and every
showing is audited (`recovery.sheet_viewed`) before the key is rendered. The key's text form and
how it reads back are device/backup.py's.
"""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from device.backup import recovery_key_text, recovery_qr_payload
from device.services import Services
from sync.fieldcrypt import KeyFileError
from web.auth import audit_actor, require_role
from web.present import jst_timestamp

BLUEPRINT = "recovery"
SHEET_VIEWED = "recovery.sheet_viewed"


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint(BLUEPRINT, __name__, url_prefix="/admin/recovery")
    bp.before_request(require_role("admin"))

    @bp.get("/")
    def index() -> ResponseReturnValue:
        return _no_store(render_template("recovery.html", key_text="", qr_svg="", error=False))

    @bp.post("/")
    def show() -> ResponseReturnValue:
        try:
            key_text = recovery_key_text(services.config)
        except KeyFileError:
            page = render_template("recovery.html", key_text="", qr_svg="", error=True)
            return _no_store(page), 503
        services.store.audit(audit_actor(), SHEET_VIEWED, "store_key", "")
        svg = _qr_svg(recovery_qr_payload(key_text))
        page = render_template(
            "recovery.html",
            key_text=key_text,
            qr_svg=Markup(svg),  # made here from our own hex text; segno escapes what it embeds
            error=False,
            shown_at=jst_timestamp(services.store.now().isoformat()),
            code=services.config.medical_institution_code,
        )
        return _no_store(page)

    return bp


def _qr_svg(payload: str) -> str:
    import segno

    return str(
        segno.make(payload, error="m").svg_inline(
            scale=4, border=4, dark="#000", light="#fff", title="QR", svgclass="recovery-qr"
        )
    )


def _no_store(page: str | Response) -> Response:
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response
