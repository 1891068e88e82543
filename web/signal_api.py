"""The status light's state as JSON for the sandbox page (demo only): what the light shows and
whether each serial device is connected (device/signal.py). The sandbox page polls
`/sandbox/light.json`; registered next to the sandbox blueprint in web/app.py.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from device.peripherals import Peripherals
from web.auth import require_role


def create_blueprint(peripherals: Peripherals | None) -> Blueprint:
    bp = Blueprint("signal", __name__, url_prefix="")
    bp.before_request(require_role("reception"))

    @bp.get("/sandbox/light.json")
    def light() -> Response:
        shown = (
            peripherals.snapshot() if peripherals is not None else {"light": None, "devices": []}
        )
        return jsonify(shown)

    return bp
