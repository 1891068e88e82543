"""Staff sign-in: the login page, the second factor, the session cookie, CSRF and role gates.

Sessions are server-side (device/accounts.py); the cookie holds only a random token. Every
state-changing request must echo the session's CSRF token (form field or header), so a page on
another origin cannot act for a signed-in user; the login form itself carries a per-browser token
in the signed Flask session, so nobody can sign a browser into their own account either.
A session whose second factor is still to come (a TOTP code, or an admin's enrolment) is not
signed in: it reaches only that step, logout and static files. Failed passwords and codes are
rate limited (429). Blueprints choose who may enter with `bp.before_request(require_role(...))`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response as BaseResponse

from device.accounts import (
    PENDING_ENROL,
    PENDING_TOTP,
    ROLES,
    Accounts,
    LoginBlocked,
    StaffSession,
    StaffUser,
    role_label,
)
from web.present import text

SESSION_COOKIE = "onshi_staff_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_TOKEN = "login_token"  # key in the signed Flask session
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
ENROL_FORM = "account.totp_form"  # endpoints of web/account.py's enrolment
ENROL = "account.totp_enrol"
# What a pending session may reach: its own step, signing out, and the files pages need.
_PENDING_ENDPOINTS = {
    PENDING_TOTP: frozenset({"auth.login_totp_form", "auth.login_totp"}),
    PENDING_ENROL: frozenset({ENROL_FORM, ENROL}),
}
_ALWAYS_OPEN = frozenset({"auth.login_form", "auth.login", "auth.logout", "static"})
# Blueprints gated by a bearer token of their own (web/api.py): a session cookie sent along,
# pending or not, neither opens them nor holds them up, and no cookie means no CSRF to check.
TOKEN_GATED = frozenset({"api"})


class LoginTokenCookie(SecureCookieSessionInterface):
    """Flask's signed session cookie, which carries the login form's token: `Secure` whenever
    the request came over HTTPS, like the session cookie (set_session_cookie)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def install(app: Flask, accounts: Accounts) -> None:
    """Login/logout and second-factor routes, the session loader, the CSRF check, the hold on
    pending sessions and the template helpers. The account page (web/account.py) builds on
    this module and is registered beside it by web/app.py."""
    app.session_interface = LoginTokenCookie()
    app.register_blueprint(_blueprint(accounts))

    @app.before_request
    def load_session() -> None:
        token = request.cookies.get(SESSION_COOKIE, "")
        found = accounts.session(token) if token else None
        g.staff_session = found
        g.user = found.user if found is not None and found.pending is None else None

    @app.before_request
    def check_csrf() -> ResponseReturnValue | None:
        if request.method in SAFE_METHODS or request.routing_exception is not None:
            return None  # reads, and requests that reach no view, change nothing
        if request.blueprint in TOKEN_GATED:
            return None  # no cookie authenticates there: nothing a foreign page could ride
        if request.endpoint in ("auth.login", "setup.create"):
            return None  # checked by the view against the login token
        current: StaffSession | None = g.staff_session
        sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
        if current is None or not _same(sent, current.csrf_token):
            return refuse(403)
        return None

    @app.before_request
    def hold_pending() -> ResponseReturnValue | None:
        current: StaffSession | None = g.staff_session
        if current is None or current.pending is None or request.endpoint is None:
            return None
        if request.blueprint in TOKEN_GATED:
            return None  # the session plays no part there
        endpoint = request.endpoint
        if endpoint in _ALWAYS_OPEN or endpoint in _PENDING_ENDPOINTS[current.pending]:
            return None
        return _to_pending_step(current)

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
    """The signed-in staff user of this request (complete sessions only), or None."""
    user: StaffUser | None = g.get("user")
    return user


def current_session() -> StaffSession | None:
    """The session of this request, pending or complete, or None."""
    found: StaffSession | None = g.get("staff_session")
    return found


def audit_actor() -> str:
    """Who an audit entry names: the signed-in user. Every page that audits sits behind a role
    gate, so there always is one; without, the request is refused rather than misattributed."""
    user = current_user()
    if user is None:
        abort(401)
    return user.username


def require_role(*roles: str) -> Callable[[], ResponseReturnValue | None]:
    """A before_request gate: signed in, and holding at least one of `roles` (any if none).

    A pending session counts as not signed in (sent to its step). A gate that admits admins
    refuses an admin whose session has not passed the second factor.
    """

    def gate() -> ResponseReturnValue | None:
        pending = current_session()
        if pending is not None and pending.pending is not None:
            return _to_pending_step(pending)
        user = current_user()
        if user is None:
            if _wants_json():
                return refuse(401)
            target = _return_path()
            try:
                return redirect(url_for("auth.login_form", next=target), code=302)
            except BuildError:  # no login on this app (auth not installed): refuse plainly
                return refuse(401)
        if roles and not any(user.has(role) for role in roles):
            return refuse(403)
        verified = pending is not None and pending.second_factor
        if "admin" in roles and user.has("admin") and not verified:
            return refuse(403, "error_admin_totp")
        return None

    return gate


def refuse(code: int, message_key: str | None = None) -> ResponseReturnValue:
    """401/403/429 as JSON for API, event-stream and JSON requests, the error page otherwise."""
    lang: str = g.get("lang", "ja")
    message = text(message_key or f"error_{code}", lang)
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


def set_session_cookie(response: BaseResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    g.session_cookie_set = True


def _blueprint(accounts: Accounts) -> Blueprint:
    bp = Blueprint("auth", __name__)

    @bp.get("/login")
    def login_form() -> ResponseReturnValue:
        target = safe_next(request.args.get("next"))
        if current_user() is not None:
            return redirect(target, code=303)
        if _first_start_pending():
            return redirect(url_for("setup.form"), code=303)  # no staff user yet: 初期設定
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
        try:
            user = accounts.authenticate(username, password, client=client)
        except LoginBlocked as blocked:
            return _login_page(target, failed=False, username=username, blocked=blocked), 429
        if user is None:
            return _login_page(target, failed=True, username=username), 401
        old = request.cookies.get(SESSION_COOKIE, "")
        if old:
            accounts.end_session(old)  # never two sessions in one browser
        session.pop(LOGIN_TOKEN, None)  # a fresh login token for the next sign-in
        if target == "/" and user.has("clinical"):
            target = "/clinical/"  # a doctor's own page first (the desk is one click away)
        if user.has_totp:
            step = url_for("auth.login_totp_form", next=target)
        elif user.has("admin"):
            step = url_for(ENROL_FORM, next=target)
        else:
            step = target
        response = redirect(step, code=303)
        set_session_cookie(response, accounts.start_session(user, client=client))
        return response

    @bp.get("/login/totp")
    def login_totp_form() -> ResponseReturnValue:
        target = safe_next(request.args.get("next"))
        current = current_session()
        if current is None:
            return redirect(url_for("auth.login_form", next=target), code=303)
        if current.pending != PENDING_TOTP:
            return redirect(target, code=303)
        return _totp_page(target, failed=False), 200

    @bp.post("/login/totp")
    def login_totp() -> ResponseReturnValue:
        # check_csrf has already refused this unless it carries the session's token.
        target = safe_next(request.form.get("next"))
        current = current_session()
        if current is None:
            return redirect(url_for("auth.login_form", next=target), code=303)
        if current.pending != PENDING_TOTP:
            return redirect(target, code=303)
        try:
            ok = accounts.second_factor_login(
                current, request.form.get("code", ""), client=request.remote_addr or ""
            )
        except LoginBlocked as blocked:
            return _totp_page(target, failed=False, blocked=blocked), 429
        if not ok:
            return _totp_page(target, failed=True), 401
        return redirect(target, code=303)

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


def _first_start_pending() -> bool:
    """True while the appliance waits for its first admin (web/setup.py offers the form)."""
    pending = current_app.extensions.get("onshi_first_start")
    return bool(pending is not None and pending())


def _return_path() -> str:
    """Where to go back after signing in: the path only. A query may hold what was searched for
    (kana, a birth date, insurance numbers), and `next` travels through more URLs and logs."""
    return request.path


def _to_pending_step(current: StaffSession) -> ResponseReturnValue:
    if _wants_json():
        # Scripts cannot type a code: an admin is told why, anyone else is simply not signed in.
        return refuse(403, "error_admin_totp") if current.user.has("admin") else refuse(401)
    target = _return_path()
    endpoint = "auth.login_totp_form" if current.pending == PENDING_TOTP else ENROL_FORM
    return redirect(url_for(endpoint, next=safe_next(target)), code=302)


def _login_page(
    target: str, *, failed: bool, username: str = "", blocked: LoginBlocked | None = None
) -> str:
    token = session.get(LOGIN_TOKEN)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[LOGIN_TOKEN] = token
    return render_template(
        "login.html",
        login_token=token,
        next_path=target,
        failed=failed,
        blocked_minutes=blocked.minutes if blocked is not None else 0,
        username=username[:64],
    )


def _totp_page(target: str, *, failed: bool, blocked: LoginBlocked | None = None) -> str:
    return render_template(
        "login_totp.html",
        next_path=target,
        failed=failed,
        blocked_minutes=blocked.minutes if blocked is not None else 0,
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
