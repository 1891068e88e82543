"""Admin page of the read API's tokens: list, create (the secret shown once), revoke.

Behind the admin gate like every admin page (role admin and a session that passed the second
factor); every form carries the session's CSRF token (web/auth.py). A created secret is in the
answer to the POST only — never in a URL, a redirect or the list — and the page is not cached.
Creating and revoking are audited by the store in the same transaction as the change.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from device.apitokens import NAME_MAX, ApiTokens, TokenNameError
from sync.store import ApiTokenRow
from web.auth import audit_actor, require_role
from web.present import jst_timestamp, text

BLUEPRINT = "tokens"


def create_blueprint(tokens: ApiTokens) -> Blueprint:
    bp = Blueprint(BLUEPRINT, __name__, url_prefix="/admin/tokens")
    bp.before_request(require_role("admin"))

    @bp.get("/")
    def index() -> ResponseReturnValue:
        done = request.args.get("done", "")
        return _page(tokens, done=done if done in ("revoked", "unchanged") else "")

    @bp.post("/")
    def create() -> ResponseReturnValue:
        name = request.form.get("name", "")
        try:
            row, secret = tokens.create(name, audit_actor())
        except TokenNameError as refused:
            error = text(f"tokens_name_{refused.problem.value}", g.lang, max=NAME_MAX)
            return _page(tokens, error=error, name=name[: NAME_MAX * 2]), 422
        return _page(tokens, created=row, secret=secret), 201

    @bp.post("/<int:token_id>/revoke")
    def revoke(token_id: int) -> ResponseReturnValue:
        if not any(row.id == token_id for row in tokens.list()):
            abort(404)
        revoked = tokens.revoke(token_id, audit_actor())
        return redirect(url_for("tokens.index", done="revoked" if revoked else "unchanged"), 303)

    return bp


def _page(
    tokens: ApiTokens,
    *,
    done: str = "",
    error: str = "",
    name: str = "",
    created: ApiTokenRow | None = None,
    secret: str = "",
) -> str:
    return render_template(
        "admin_tokens.html",
        tokens=tokens.list(),
        done=done,
        error=error,
        name=name,
        created=created,
        secret=secret,
        name_max=NAME_MAX,
        when=_when,
    )


def _when(at: datetime | None) -> str:
    return jst_timestamp(at.isoformat()) if at is not None else "—"
