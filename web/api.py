"""The read API for other systems (receipt computers, electronic charts): `/api/v1/…`.

Gated only by `Authorization: Bearer <token>` (tokens made on the admin page,
device/apitokens.py): a staff session cookie opens nothing here, and since no cookie
authenticates, no CSRF token is asked either. Missing, unknown and revoked tokens get 401 with
`WWW-Authenticate: Bearer`.

Both routes page through the stored answers by id: `since` is the last id a client has seen,
`limit` at most MAX_LIMIT rows. A request that returns answers is an audited view of personal
data: one audit entry naming the token and the ids returned. The JSON shape and the FHIR
mapping are in docs/api.md.

`POST /appointments` takes the appointments list (text/csv, as the desk's upload does,
device/appointments.py): 201 with the count, or 400 with every refused line and nothing stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, request
from flask.typing import ResponseReturnValue

from device.apitokens import ApiTokens, token_actor
from device.appointments import API, Appointments, AppointmentsRejected
from sync.codes import ratio_percent
from sync.fhir import FHIR_JSON, iso_date, searchset
from sync.store import ApiTokenRow, Confirmation, Store
from sync.xmlmsg import Qualification
from web.appointments import UPLOAD_LIMIT, problem_text
from web.present import text

log = logging.getLogger(__name__)

BLUEPRINT = "api"
PREFIX = "/api/v1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_CURSOR = 2**63 - 1  # SQLite's largest rowid
REALM = 'Bearer realm="onshi-edge"'


@dataclass(frozen=True)
class Page:
    rows: list[Confirmation]
    since: int
    limit: int
    more: bool

    @property
    def next(self) -> int:
        return self.rows[-1].id if self.rows else self.since


class BadParameter(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def create_blueprint(store: Store, tokens: ApiTokens, appointments: Appointments) -> Blueprint:
    bp = Blueprint(BLUEPRINT, __name__, url_prefix=PREFIX)

    @bp.before_request
    def bearer_only() -> ResponseReturnValue | None:
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.strip().partition(" ")
        secret = secret.strip()
        row = tokens.verify(secret) if scheme.lower() == "bearer" and secret else None
        if row is None:
            return _unauthorized(given=bool(header), fhir=_is_fhir())
        g.api_token = row
        return None

    @bp.get("/confirmations")
    def confirmations() -> ResponseReturnValue:
        try:
            page = _page(store)
        except BadParameter as bad:
            return _json({"ok": False, "error": 400, "message": text(bad.key, g.lang)}, 400)
        _audit(store, page.rows, "json")
        body = {
            "confirmations": [confirmation_json(row) for row in page.rows],
            "next": page.next,
            "more": page.more,
        }
        return _json(body, 200)

    @bp.get("/fhir/CoverageEligibilityResponse")
    def coverage_eligibility() -> ResponseReturnValue:
        try:
            page = _page(store)
        except BadParameter as bad:
            return _fhir(_outcome("invalid", text(bad.key, "en")), 400)
        _audit(store, page.rows, "fhir")
        base = request.url_root.rstrip("/") + PREFIX + "/fhir"
        path = base + "/CoverageEligibilityResponse"
        next_url = (
            f"{path}?{urlencode({'since': page.next, 'limit': page.limit})}" if page.more else None
        )
        bundle = searchset(page.rows, base_url=base, self_url=request.url, next_url=next_url)
        return _fhir(bundle, 200)

    @bp.post("/appointments")
    def appointments_upload() -> ResponseReturnValue:
        if request.mimetype not in CSV_TYPES:
            message = text("api_appointments_type", g.lang)
            return _json({"ok": False, "error": 415, "message": message}, 415)
        data = request.get_data(cache=False)[:UPLOAD_LIMIT]
        token: ApiTokenRow = g.api_token
        try:
            count = appointments.import_csv(data, actor=token_actor(token), source=API)
        except AppointmentsRejected as rejected:
            lang: str = g.lang
            problems = [
                {
                    "line": p.line,
                    "field": p.field or None,
                    "problem": p.problem.value,
                    "message": problem_text(p, lang),
                }
                for p in sorted(rejected.problems, key=lambda p: p.line)
            ]
            body = {
                "ok": False,
                "error": 400,
                "message": text("appointments_refused", lang),
                "problems": problems,
            }
            return _json(body, 400)
        return _json({"ok": True, "imported": count}, 201)

    return bp


CSV_TYPES = ("text/csv", "application/csv", "text/plain")


# -- the JSON shape ---------------------------------------------------------------------------
def confirmation_json(row: Confirmation) -> dict[str, Any]:
    """One stored answer as the read API's JSON (docs/api.md, "confirmations")."""
    result = row.result
    first = result.results[0] if result.results else None
    return {
        "id": row.id,
        "file_id": row.file_id,
        "created_at": _utc(row),
        "kind": row.kind,
        "method": row.method,
        "source": row.source,
        "verdict": row.badge,
        "earlier_id": row.earlier_id,
        "validity": result.validity or None,
        "message": result.processing_message or result.error_message or None,
        "qualification": _qualification(first) if first is not None else None,
    }


def _qualification(q: Qualification) -> dict[str, Any]:
    return {
        "name": q.name,
        "name_kana": q.name_kana,
        "birthdate": iso_date(q.birthdate) or None,
        "sex": q.sex or None,
        "insurer_number": q.insurer_number,
        "insurer_name": q.insurer_name,
        "symbol": q.symbol,
        "number": q.number,
        "branch": q.branch,
        "personal_family": q.personal_family or None,
        "card_classification": q.card_classification or None,
        "contribution_ratio": ratio_percent(q.contribution_ratio),
        "elderly_contribution_ratio": (
            ratio_percent(q.elderly.ratio) if q.elderly is not None else None
        ),
        "limit_flag": q.limit.flag if q.limit is not None and q.limit.flag else None,
        "qualification_date": iso_date(q.qualification_date) or None,
        "disqualification_date": iso_date(q.disqualification_date) or None,
        "consents": {c.kind: c.flag for c in q.consents},
        "public_expenses": [
            {
                "number": e.number,
                "recipient": e.recipient,
                "valid_start": iso_date(e.valid_start) or None,
                "valid_end": iso_date(e.valid_end) or None,
            }
            for e in q.public_expenses
        ],
        "medical_tickets": [
            {
                "ticket_type": t.ticket_type or None,
                "valid_start": iso_date(t.valid_date) or None,
                "valid_end": iso_date(t.expiration_date) or None,
                "issue_number": t.issue_number or None,
                "treatment_month": t.treatment_month or None,
                "institution_code": t.institution_code or None,
                "institution_flag": t.institution_flag or None,
                "treatment_type": t.treatment_type or None,
                "self_pay_amount": int(t.self_pay_amount) if t.self_pay_amount else None,
            }
            for t in q.medical_tickets
        ],
    }


def _utc(row: Confirmation) -> str:
    return row.created_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- paging, audit, answers -------------------------------------------------------------------
def _page(store: Store) -> Page:
    since = _number("since", 0, "api_bad_since", 0, MAX_CURSOR)
    limit = _number("limit", DEFAULT_LIMIT, "api_bad_limit", 1, MAX_LIMIT)
    rows = store.confirmations_after(since, limit + 1)
    return Page(rows[:limit], since, limit, len(rows) > limit)


def _number(name: str, default: int, key: str, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadParameter(key)
    value = int(raw)
    if not low <= value <= high:
        raise BadParameter(key)
    return value


def _audit(store: Store, rows: Sequence[Confirmation], form: str) -> None:
    """One entry per request that shows answers; a poll that finds nothing shows nothing."""
    if not rows:
        return
    token: ApiTokenRow = g.api_token
    detail = f"token={token.id} {form} ids={id_ranges([row.id for row in rows])}"
    store.audit(token_actor(token), "api.read", "confirmations:api", detail)


def id_ranges(ids: Sequence[int]) -> str:
    """1,2,3,5,7,8 → "1-3,5,7-8": every id, compactly (a page is at most MAX_LIMIT rows)."""
    parts: list[str] = []
    start = previous = None
    for value in sorted(ids):
        if previous is not None and value == previous + 1:
            previous = value
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = value
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def _unauthorized(*, given: bool, fhir: bool) -> Response:
    message = text("api_unauthorized", "en")
    if fhir:
        response = _fhir(_outcome("login", message), 401)
    else:
        body = {"ok": False, "error": 401, "message": text("api_unauthorized", g.lang)}
        response = _json(body, 401)
    # RFC 6750: say what was wrong only when a token was sent.
    response.headers["WWW-Authenticate"] = REALM + (', error="invalid_token"' if given else "")
    return response


def _is_fhir() -> bool:
    return request.path.startswith(PREFIX + "/fhir/")


def _outcome(code: str, message: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )


def _fhir(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=FHIR_JSON)
