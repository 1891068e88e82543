"""The signed-in user's own page: enrol or remove the TOTP second factor, change the password.

Enrolment shows a fresh secret as a QR code (inline SVG, no script) and as base32 text for
typing; the secret travels back in the form only once and is kept only when the code typed
from the app matches it. An admin who signed in without a second factor lands here before
anything else, and the session counts as verified once the enrolment succeeds.
"""

from __future__ import annotations

import base64
import binascii

import segno
from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from device.accounts import (
    PENDING_ENROL,
    TOTP_SECRET_BYTES,
    AccountError,
    Accounts,
    LoginBlocked,
    StaffSession,
    StaffUser,
    role_label,
)
from web.auth import (
    ENROL,
    ENROL_FORM,
    SESSION_COOKIE,
    current_session,
    current_user,
    require_role,
    safe_next,
)
from web.bilingual import one_language
from web.present import text

_B32_LENGTH = 32  # base32 of TOTP_SECRET_BYTES without padding


def create_blueprint(accounts: Accounts) -> Blueprint:
    bp = Blueprint("account", __name__, url_prefix="/account")
    signed_in = require_role()

    @bp.before_request
    def gate() -> ResponseReturnValue | None:
        current = current_session()
        enrolling = request.endpoint in (ENROL_FORM, ENROL)
        if enrolling and current is not None and current.pending == PENDING_ENROL:
            return None
        return signed_in()

    @bp.get("")
    def page() -> ResponseReturnValue:
        return _account_page(_user(), notice=request.args.get("done", "")), 200

    @bp.get("/totp")
    def totp_form() -> ResponseReturnValue:
        current = _session()
        target = safe_next(request.args.get("next"))
        if current.user.has_totp:
            return redirect(url_for("account.page"), code=303)
        secret = accounts.new_totp_secret()
        return _enrol_page(accounts, current, secret, target, error=""), 200

    @bp.post("/totp")
    def totp_enrol() -> ResponseReturnValue:
        current = _session()
        target = safe_next(request.form.get("next"))
        if current.user.has_totp:
            return redirect(url_for("account.page"), code=303)
        secret = _secret_from_form(request.form.get("secret", ""))
        if secret is None:
            secret = accounts.new_totp_secret()  # damaged form: start again with a new one
            error = text("account_enrol_again", _lang())
            return _enrol_page(accounts, current, secret, target, error=error), 422
        try:
            accounts.enrol_totp(
                current.user, secret, request.form.get("code", ""), actor=current.user.username
            )
        except AccountError as exc:
            error = one_language(str(exc), _lang())
            return _enrol_page(accounts, current, secret, target, error=error), 422
        accounts.complete_second_factor(request.cookies.get(SESSION_COOKIE, ""))
        if current.pending == PENDING_ENROL:
            return redirect(target, code=303)
        return redirect(url_for("account.page", done="totp_enrolled"), code=303)

    @bp.post("/totp/remove")
    def totp_remove() -> ResponseReturnValue:
        user = _user()
        try:
            accounts.remove_own_totp(
                user, request.form.get("password", ""), client=request.remote_addr or ""
            )
        except LoginBlocked as blocked:
            return _account_page(user, error=_blocked(blocked)), 429
        except AccountError as exc:
            return _account_page(user, error=one_language(str(exc), _lang())), 422
        return redirect(url_for("account.page", done="totp_removed"), code=303)

    @bp.post("/password")
    def password() -> ResponseReturnValue:
        user = _user()
        new = request.form.get("new_password", "")
        if new != request.form.get("new_password_again", ""):
            return _account_page(user, error=text("account_new_passwords_differ", _lang())), 422
        try:
            accounts.change_own_password(
                user,
                request.form.get("current_password", ""),
                new,
                client=request.remote_addr or "",
                keep_token=request.cookies.get(SESSION_COOKIE, ""),
            )
        except LoginBlocked as blocked:
            return _account_page(user, error=_blocked(blocked)), 429
        except AccountError as exc:
            return _account_page(user, error=one_language(str(exc), _lang())), 422
        return redirect(url_for("account.page", done="password_changed"), code=303)

    return bp


_NOTICES = frozenset({"totp_enrolled", "totp_removed", "password_changed"})


def _lang() -> str:
    lang: str = g.get("lang", "ja")
    return lang


def _session() -> StaffSession:
    current = current_session()
    if current is None:  # the gate lets no request without a session through
        raise RuntimeError("account page without a session")
    return current


def _user() -> StaffUser:
    user = current_user()
    if user is None:  # the gate lets only complete sessions reach these views
        raise RuntimeError("account page without a signed-in user")
    return user


def _blocked(blocked: LoginBlocked) -> str:
    """The sign-in page's words for a block, in the page's language."""
    return text("login_blocked", g.get("lang", "ja"), minutes=blocked.minutes)


def _secret_from_form(value: str) -> bytes | None:
    value = value.strip().upper()
    if len(value) != _B32_LENGTH:
        return None
    try:
        secret = base64.b32decode(value)
    except (binascii.Error, ValueError):
        return None
    return secret if len(secret) == TOTP_SECRET_BYTES else None


def _account_page(user: StaffUser, *, notice: str = "", error: str = "") -> str:
    lang: str = g.get("lang", "ja")
    return render_template(
        "account.html",
        user=user,
        roles=[role_label(r, lang) for r in sorted(user.roles)],
        notice=notice if notice in _NOTICES else "",
        error=error,
        is_admin=user.has("admin"),
    )


def _enrol_page(
    accounts: Accounts, current: StaffSession, secret: bytes, target: str, *, error: str
) -> str:
    uri = accounts.totp_uri(current.user.username, secret)
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, border=4, dark="#000", light="#fff", title="QR", svgclass="totp-qr"
    )
    b32 = base64.b32encode(secret).decode().rstrip("=")
    return render_template(
        "totp_enroll.html",
        qr_svg=Markup(svg),  # made here from our own URI; segno escapes the text it embeds
        secret_text=" ".join(b32[i : i + 4] for i in range(0, len(b32), 4)),
        secret_value=b32,
        next_path=target,
        error=error,
        required=current.pending == PENDING_ENROL,
        user=current.user,
    )
