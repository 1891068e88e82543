"""Staff sign-in: the login page, the session cookie, CSRF on every change, and role gates.

Sessions are server-side (device/accounts.py); the cookie holds only a random token. Every
state-changing request must echo the session's CSRF token (form field or header), so a page on
another origin cannot act for a signed-in user; the login form itself carries a per-browser token
in the signed Flask session, so nobody can sign a browser into their own account either.
Blueprints choose who may enter with `bp.before_request(require_role("reception"))`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.routing import BuildError

from device.accounts import ROLES, Accounts, StaffSession, StaffUser, role_label
from web.present import text

SESSION_COOKIE = "onshi_staff_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_TOKEN = "login_token"  # key in the signed Flask session
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def install(app: Flask, accounts: Accounts) -> None:
    """Login/logout routes, the session loader, the CSRF check and the template helpers."""
    app.register_blueprint(_blueprint(accounts))

    @app.before_request
    def load_session() -> None:
        token = request.cookies.get(SESSION_COOKIE, "")
        found = accounts.session(token) if token else None
        g.staff_session = found
        g.user = found.user if found is not None else None

    @app.before_request
    def check_csrf() -> ResponseReturnValue | None:
        if request.method in SAFE_METHODS or request.routing_exception is not None:
            return None  # reads, and requests that reach no view, change nothing
        if request.endpoint == "auth.login":
            return None  # checked by the view against the login token
        current: StaffSession | None = g.staff_session
        sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
        if current is None or not _same(sent, current.csrf_token):
            return refuse(403)
        return None

    @app.after_request
    def drop_dead_cookie(response: Response) -> Response:
        # A cookie whose session ended (expired, logged out elsewhere) is removed from the browser.
        if (
            request.cookies.get(SESSION_COOKIE)
            and g.get("staff_session") is None
            and not g.get("session_cookie_set", False)
        ):
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
        return response

    @app.context_processor
    def auth_context() -> dict[str, object]:
        user: StaffUser | None = g.get("user")
        lang: str = g.get("lang", "ja")
        return {
            "csrf_token": _csrf_token,
            "current_user": user,
            "current_roles": [role_label(r, lang) for r in ROLES if user and user.has(r)],
        }


def current_user() -> StaffUser | None:
    """The signed-in staff user of this request, or None (also when auth is not installed)."""
    user: StaffUser | None = g.get("user")
    return user


def require_role(*roles: str) -> Callable[[], ResponseReturnValue | None]:
    """A before_request gate: signed in, and holding at least one of `roles` (any if none)."""

    def gate() -> ResponseReturnValue | None:
        user = current_user()
        if user is None:
            if _wants_json():
                return refuse(401)
            target = request.full_path.rstrip("?") if request.query_string else request.path
            try:
                return redirect(url_for("auth.login_form", next=target), code=302)
            except BuildError:  # no login on this app (auth not installed): refuse plainly
                return refuse(401)
        if roles and not any(user.has(role) for role in roles):
            return refuse(403)
        return None

    return gate


def refuse(code: int) -> ResponseReturnValue:
    """401/403 as JSON for API, event-stream and JSON requests, the error page otherwise."""
    lang: str = g.get("lang", "ja")
    message = text(f"error_{code}", lang)
    if _wants_json():
        return jsonify(ok=False, error=code, message=message), code
    return render_template("error.html", code=code, message=message), code


def safe_next(value: str | None) -> str:
    """Only a path on this site: "/…" but not "//…" (another host) nor anything odd."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)
        or len(value) > 2000
    ):
        return "/"
    return value


def _blueprint(accounts: Accounts) -> Blueprint:
    bp = Blueprint("auth", __name__)

    @bp.get("/login")
    def login_form() -> ResponseReturnValue:
        target = safe_next(request.args.get("next"))
        if current_user() is not None:
            return redirect(target, code=303)
        return _login_page(target, failed=False), 200

    @bp.post("/login")
    def login() -> ResponseReturnValue:
        expected = session.get(LOGIN_TOKEN, "")
        if not isinstance(expected, str) or not expected:
            return refuse(403)
        if not _same(request.form.get(CSRF_FIELD, ""), expected):
            return refuse(403)
        target = safe_next(request.form.get("next"))
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        client = request.remote_addr or ""
        user = accounts.authenticate(username, password, client=client)
        if user is None:
            return _login_page(target, failed=True, username=username), 401
        old = request.cookies.get(SESSION_COOKIE, "")
        if old:
            accounts.end_session(old)  # never two sessions in one browser
        session.pop(LOGIN_TOKEN, None)  # a fresh login token for the next sign-in
        response = redirect(target, code=303)
        response.set_cookie(
            SESSION_COOKIE,
            accounts.start_session(user, client=client),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
        )
        g.session_cookie_set = True
        return response

    @bp.post("/logout")
    def logout() -> ResponseReturnValue:
        # check_csrf has already refused this unless it carries the session's token.
        accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
        g.staff_session = None
        g.user = None
        response = redirect(url_for("auth.login_form"), code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
        g.session_cookie_set = True
        return response

    return bp


def _login_page(target: str, *, failed: bool, username: str = "") -> str:
    token = session.get(LOGIN_TOKEN)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[LOGIN_TOKEN] = token
    return render_template(
        "login.html",
        login_token=token,
        next_path=target,
        failed=failed,
        username=username[:64],
    )


def _csrf_token() -> str:
    current: StaffSession | None = g.get("staff_session")
    return current.csrf_token if current is not None else ""


def _same(sent: str, expected: str) -> bool:
    return hmac.compare_digest(sent.encode(), expected.encode())


def _wants_json() -> bool:
    path = request.path
    return (
        path.startswith("/api/")
        or path == "/events"
        or path.startswith("/events/")
        or request.is_json
        or request.accept_mimetypes.best == "application/json"
    )
