"""Flask routes of the simulated central service (documented in docs/central-api.md).

The caller's medical institution code is the CN of its TLS client certificate, which the
WSGI server puts into the environ (`SSL_CLIENT_CERT`); the TLS layer has already refused
clients without a certificate issued by the device CA.
"""

from __future__ import annotations

import gzip
import time

from cryptography import x509
from cryptography.x509.oid import NameOID
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from sim.central.faults import Faults, SettingError
from sim.central.service import CentralService, RequestRejected
from sync.bulkmsg import MAX_BULK_BYTES
from sync.xmlmsg import MAX_MESSAGE_BYTES

CLIENT_CERT_ENVIRON = "SSL_CLIENT_CERT"
CONTROL_PATH = "/sim/control"  # served only on the control listener (server.py)
GZIP_FROM = 64_000  # bulk answers larger than this are gzipped for clients that accept it
CONTROL_FIELDS = ("mode", "slow_s", "flap_s", "flap_seed", "changed_after_recovery")


def create_app(service: CentralService) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_MESSAGE_BYTES
    bulk_paths = frozenset({"/v1/bulk", "/v1/bulk/result", "/v1/references", "/v1/aid"})
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # readable Japanese errors

    @app.before_request
    def faults() -> Response | None:
        if request.path in bulk_paths:
            request.max_content_length = MAX_BULK_BYTES  # a bulk upload is larger
        if service.latency_s > 0:
            time.sleep(service.latency_s)
        service.faults.hold()  # slow mode
        if service.faults.down():
            # Only a request already on a kept-alive connection gets here: the listener is
            # closing. New connections are refused.
            return _error(503, "中央サービスは停止中です / the service is down")
        status = service.injected_failure()
        if status is not None:
            return _error(status, "障害を模擬しています / simulated failure")
        return None

    @app.post("/v1/nonce")
    def nonce() -> Response:
        return jsonify(service.issue_nonce(_institution()).to_json())

    @app.post("/v1/qualification")
    def qualification() -> Response:
        answer = service.qualify(request.get_data(), _institution())
        return Response(answer.body, status=200, content_type=answer.content_type)

    @app.post("/v1/drug-information")
    def drug_information() -> Response:
        return _medical_info("drug")

    @app.post("/v1/health-checkups")
    def health_checkups() -> Response:
        return _medical_info("checkup")

    def _medical_info(kind: str) -> Response:
        answer = service.medical_info(request.get_data(), _institution(), kind)
        return Response(answer.body, status=200, content_type=answer.content_type)

    @app.post("/v1/bulk")
    def bulk_upload() -> Response:
        answer = service.bulk_upload(request.get_data(), _institution())
        return Response(answer.body, status=200, content_type=answer.content_type)

    @app.post("/v1/bulk/result")
    def bulk_result() -> Response:
        answer = service.bulk_result(request.get_data(), _institution())
        response = Response(answer.body, status=200, content_type=answer.content_type)
        if len(answer.body) > GZIP_FROM and "gzip" in request.headers.get("Accept-Encoding", ""):
            response.set_data(gzip.compress(answer.body, compresslevel=5))
            response.headers["Content-Encoding"] = "gzip"
        return response

    @app.post("/v1/aid")
    def aid_upload() -> Response:
        answer = service.aid_upload(request.get_data(), _institution())
        return Response(answer.body, status=200, content_type=answer.content_type)

    @app.post("/v1/aid/result")
    def aid_result() -> Response:
        answer = service.aid_result(request.get_data(), _institution())
        return Response(answer.body, status=200, content_type=answer.content_type)

    @app.post("/v1/references")
    def references() -> Response:
        answer = service.register_references(request.get_data(), _institution())
        return Response(answer.body, status=200, content_type=answer.content_type)

    @app.get("/v1/time")
    def now() -> Response:
        return jsonify({"now": service.clock().isoformat()})

    @app.get("/v1/health")
    def health() -> Response:
        return jsonify({"ok": True})

    @app.errorhandler(RequestRejected)
    def rejected(e: RequestRejected) -> Response:
        return _error(e.status, e.message)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        return _error(e.code or 500, e.description or e.name)

    return app


def create_control_app(faults: Faults) -> Flask:
    """The fault switches (docs/central-api.md, "Simulator control"): GET the state, POST a
    JSON object with any of CONTROL_FIELDS to change it."""
    app = Flask(__name__ + ".control")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    @app.get(CONTROL_PATH)
    def state() -> Response:
        return jsonify(faults.status().to_json())

    @app.post(CONTROL_PATH)
    def switch() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "JSON オブジェクトを送ってください / send a JSON object")
        unknown = sorted(set(body) - set(CONTROL_FIELDS))
        if unknown:
            return _error(400, f"unknown field(s): {', '.join(unknown)}")
        try:
            changes = _typed(body)
            return jsonify(faults.switch(**changes).to_json())
        except SettingError as e:
            return _error(400, str(e))

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        return _error(e.code or 500, e.description or e.name)

    return app


def _typed(body: dict[str, object]) -> dict[str, object]:
    """JSON values checked for their type (true is not a number here)."""
    out: dict[str, object] = {}
    for key, value in body.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key == "mode" and isinstance(value, str):
            out[key] = value
        elif key in ("slow_s", "flap_s") and number and isinstance(value, int | float):
            out[key] = float(value)
        elif key == "flap_seed" and value is None:
            out[key] = None
        elif key == "flap_seed" and isinstance(value, int) and not isinstance(value, bool):
            out[key] = value
        elif key == "changed_after_recovery" and isinstance(value, bool):
            out[key] = value
        else:
            raise SettingError(f"{key}: wrong type of value")
    return out


def _institution() -> str:
    """CN of the verified client certificate; 403 when there is none (plain HTTP, tests)."""
    pem = request.environ.get(CLIENT_CERT_ENVIRON)
    if not pem:
        raise RequestRejected(
            403, "クライアント証明書がありません / no client certificate presented"
        )
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response
