"""The two web apps: staff (reception, sandbox) and kiosk, each on its own listener.

They are separate Flask apps with separate cookies, so no kiosk request can reach a staff
route: on the kiosk listener those routes simply do not exist.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, Response, g, jsonify, render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import BadHost, HTTPException, InternalServerError

from device.config import Config
from device.services import Services
from sync.store import StoreFullError
from web import (
    account,
    admin,
    admin_tokens,
    api,
    appointments,
    auth,
    bulk,
    clinical,
    kiosk,
    reception,
    recheck,
    recovery,
    sandbox,
    setup,
    signal_api,
    statement,
)
from web.deskrows import EXTENSION, DeskRows
from web.inbound import RequestRefused
from web.people import display_name
from web.present import LANGUAGES, STRINGS, text

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ONE_YEAR_S = 365 * 24 * 3600
DISK_FULL_STATUS = 507  # Insufficient Storage: nothing of the request was stored


def create_staff_app(config: Config, services: Services) -> Flask:
    app = _base_app(config, "onshi_staff", no_store_static=False)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    # The appointments list's routes take up to its size cap: set before any hook reads a body.
    app.before_request(appointments.allow_list_upload)
    auth.install(app, services.accounts)  # before the pages: the session loads first
    app.register_blueprint(account.create_blueprint(services.accounts))
    # Today's desk rows, rendered ahead by a thread the appliance starts (web/deskrows.py).
    rows = DeskRows(app, services.store, services.bus)
    app.extensions[EXTENSION] = rows
    app.register_blueprint(reception.create_blueprint(services, rows))
    app.register_blueprint(
        statement.create_blueprint(
            services.statements, lambda actor: display_name(services.store, actor, "ja")
        )
    )
    app.register_blueprint(recheck.create_blueprint(services))
    app.register_blueprint(appointments.create_blueprint(services))
    app.register_blueprint(bulk.create_blueprint(services))
    if config.demo and services.sandbox is not None:
        app.register_blueprint(sandbox.create_blueprint(services, services.sandbox))
        app.register_blueprint(signal_api.create_blueprint(services.peripherals))
    app.register_blueprint(clinical.create_blueprint(services))
    app.register_blueprint(admin.create_blueprint(services))
    app.register_blueprint(admin_tokens.create_blueprint(services.api_tokens))
    app.register_blueprint(recovery.create_blueprint(services))
    app.register_blueprint(setup.create_blueprint(services.accounts, services.first_start))
    if services.first_start is not None:
        app.extensions["onshi_first_start"] = services.first_start.pending
    app.register_blueprint(
        api.create_blueprint(services.store, services.api_tokens, services.appointments)
    )
    app.extensions["onshi_links"] = {
        "sandbox": bool(config.demo and services.sandbox),
        "clinical": True,
    }
    return app


def create_kiosk_app(config: Config, services: Services) -> Flask:
    app = _base_app(config, "onshi_kiosk", no_store_static=True)
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024
    kiosk.install_gate(app, config)  # before the page: Host, Origin and the kiosk's own files
    app.register_blueprint(kiosk.create_blueprint(services))
    app.extensions["onshi_links"] = {"sandbox": False}
    return app


def _base_app(config: Config, cookie: str, *, no_store_static: bool) -> Flask:
    app = Flask("web")
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # per process: no sessions survive a restart
        SESSION_COOKIE_NAME=cookie,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    lang_cookie = f"{cookie}_lang"

    @app.before_request
    def choose_language() -> None:
        asked = request.args.get("lang", "")
        if asked in LANGUAGES:
            g.lang = asked
        else:
            stored = request.cookies.get(lang_cookie, "")
            g.lang = stored if stored in LANGUAGES else config.language

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if no_store_static or request.endpoint != "static":
            # Pages carry personal data (staff) or a patient's screen (kiosk): never cached.
            response.headers["Cache-Control"] = "no-store"
        asked = request.args.get("lang", "")
        if asked in LANGUAGES:
            response.set_cookie(
                lang_cookie,
                asked,
                max_age=ONE_YEAR_S,
                httponly=True,
                samesite="Strict",
                secure=request.is_secure,
            )
        return response

    @app.context_processor
    def strings() -> dict[str, object]:
        lang = getattr(g, "lang", config.language)
        return {
            "lang": lang,
            "other_lang": "en" if lang == "ja" else "ja",
            "t": lambda key, **values: text(key, lang, **values),
            "links": app.extensions.get("onshi_links", {}),
        }

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int]:
        key = None
        if isinstance(exc, RequestRefused):
            key = exc.key
        elif isinstance(exc, BadHost):  # a Host werkzeug cannot parse (e.g. a 64-letter label)
            key = "error_bad_host"
        return _error(exc.code or 500, config.language, key)

    @app.errorhandler(StoreFullError)
    def disk_full(exc: StoreFullError) -> tuple[Response | str, int]:
        # Nothing of the request was stored; every screen says so in both languages.
        log.error("disk full on %s %s: %s", request.method, request.path, exc)
        return _error(DISK_FULL_STATUS, config.language, both_languages=True)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        # Only the type and traceback; request bodies may hold PINs and are never logged.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(InternalServerError.code, config.language)

    return app


def _error(
    code: int, default_lang: str, key: str | None = None, *, both_languages: bool = False
) -> tuple[Response | str, int]:
    lang = getattr(g, "lang", default_lang)
    if key is None:
        key = f"error_{code}" if f"error_{code}" in STRINGS else "error_500"
    if both_languages:
        message = f"{text(key, 'ja')} / {text(key, 'en')}"
        if request.path.startswith("/api/") or request.method == "POST" or request.is_json:
            return jsonify(ok=False, error=code, message=message), code
        return render_template("error.html", code=code, message=message), code
    if request.path.startswith("/api/") or request.method == "POST" or request.is_json:
        return jsonify(ok=False, error=code, message=text(key, lang)), code
    if request_ctx.url_adapter is None:
        # No URLs can be built for this request (its Host could not be parsed), so no page
        # with links to the stylesheet: the message in plain text.
        plain = f"{code} {text(key, 'ja')} / {text(key, 'en')}\n"
        return Response(plain, mimetype="text/plain"), code
    return render_template("error.html", code=code, message=text(key, lang)), code
