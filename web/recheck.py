"""The re-check queue's alerts for reception: the open alerts (a re-check whose answer differs
from the one charged, or one given up unanswered that a person must check by hand) and
acknowledging one, which records the staff user.

The alerts name patients, so listing them is an audited view; acknowledging is audited by the
store with the alert.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, url_for

from device.services import Services
from web.auth import audit_actor, require_role
from web.detail import RecheckView, recheck_view

ALERT_LIMIT = 50


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("recheck", __name__, url_prefix="")
    bp.before_request(require_role("reception"))
    store = services.store

    def wire(view: RecheckView) -> dict[str, object]:
        def side(row: dict[str, object] | None) -> dict[str, object] | None:
            if row is None:
                return None
            url = url_for("reception.detail_page", confirmation_id=row["id"])
            return {
                "id": row["id"],
                "url": url,
                "badge": row["badge"],
                "name": row["name"],
                "insurer_number": row["insurer_number"],
                "ratio": row["ratio"],
                "date": row["date"],
                "time": row["time"],
            }

        return {
            "id": view.alert_id,
            "title": view.title,
            "unanswered": view.unanswered,
            "asked": view.asked,
            "changes": list(view.changes),
            "earlier": side(view.earlier),
            "answer": side(view.answer),
        }

    @bp.get("/api/recheck/alerts")
    def alerts() -> Response:
        """Open changed-answer alerts, oldest first."""
        found = services.outbox.open_alerts()[:ALERT_LIMIT]
        if found:
            ids = ",".join(str(a.id) for a in found)
            store.audit(audit_actor(), "outbox.alerts_view", "outbox_alerts", f"ids={ids}")
        return jsonify(alerts=[wire(recheck_view(a, store, g.lang)) for a in found])

    @bp.post("/api/recheck/alerts/<int:alert_id>/acknowledge")
    def acknowledge(alert_id: int) -> Response:
        if not services.outbox.acknowledge(alert_id, actor=audit_actor()):
            abort(404)  # no such alert, or someone saw it already
        return jsonify(ok=True)

    return bp
