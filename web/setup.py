"""The first start's 初期設定 form: the first admin, created with the one-time setup code.

Open to anyone only while no staff user exists (device/setup.py FirstStart); afterwards both
routes answer 404 and the code is void. The form carries the sign-in page's per-browser token
(the signed Flask session), not a session's CSRF token: nobody is signed in yet. A wrong code
changes nothing and counts toward the sign-in limiter; bad input keeps the code valid. The new
admin is signed in and sent to enrol the second factor, then to the recovery sheet.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from device.accounts import AccountError, Accounts, LoginBlocked
from device.setup import FirstStart, SetupClosed, SetupCodeWrong
from web.auth import (
    ENROL_FORM,
    LOGIN_TOKEN,
    SESSION_COOKIE,
    _same,
    refuse,
    set_session_cookie,
)
from web.present import text

BLUEPRINT = "setup"
CREATE = "setup.create"  # its POST checks the login token itself (web/auth.py check_csrf)
AFTER = "/admin/recovery/"  # where the new admin lands once the second factor is enrolled


def create_blueprint(accounts: Accounts, first_start: FirstStart | None) -> Blueprint:
    bp = Blueprint(BLUEPRINT, __name__)

    def open_or_404() -> FirstStart:
        if first_start is None or not first_start.pending():
            abort(404)
        return first_start

    @bp.get("/setup")
    def form() -> ResponseReturnValue:
        open_or_404()
        return _page(), 200

    @bp.post("/setup")
    def create() -> ResponseReturnValue:
        setup = open_or_404()
        expected = session.get(LOGIN_TOKEN, "")
        if not isinstance(expected, str) or not expected:
            return refuse(403)
        if not _same(request.form.get("csrf_token", ""), expected):
            return refuse(403)
        lang: str = g.get("lang", "ja")
        username = request.form.get("username", "").strip()
        display_name = request.form.get("display_name", "")
        password = request.form.get("password", "")
        kept = {"username": username[:64], "display_name": display_name[:64]}
        if password != request.form.get("password_again", ""):
            return _page(error=text("setup_password_mismatch", lang), **kept), 400
        client = request.remote_addr or ""
        try:
            user = setup.create_first_admin(
                request.form.get("code", ""), username, display_name, password, client=client
            )
        except SetupClosed:
            abort(404)
        except LoginBlocked as blocked:
            message = text("login_blocked", lang, minutes=blocked.minutes)
            return _page(error=message, **kept), 429
        except SetupCodeWrong:
            return _page(error=text("setup_code_wrong", lang), **kept), 401
        except AccountError as exc:
            return _page(error=_one_language(str(exc), lang), **kept), 400
        old = request.cookies.get(SESSION_COOKIE, "")
        if old:
            accounts.end_session(old)
        session.pop(LOGIN_TOKEN, None)
        response = redirect(url_for(ENROL_FORM, next=AFTER), code=303)
        set_session_cookie(response, accounts.start_session(user, client=client))
        return response

    return bp


def _one_language(message: str, lang: str) -> str:
    """An AccountError says "日本語 / English": the page's language only."""
    ja, _sep, en = message.partition(" / ")
    return (en or ja) if lang == "en" else ja


def _page(*, error: str = "", username: str = "", display_name: str = "") -> str:
    token = session.get(LOGIN_TOKEN)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[LOGIN_TOKEN] = token
    return render_template(
        "setup.html",
        login_token=token,
        error=error,
        username=username,
        display_name=display_name,
    )
