"""A client of the simulator's control listener (`onshi sim control`, the demo sandbox).

`onshi sim central` writes where its control listener is to DATA/central-control.json; this
reads it and talks to it over the same mutual TLS as the service (the device certificate of
the test PKI, the central CA pinned). Standard library only: the simulators never use the
appliance's HTTP client.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sim.pki import PkiPaths

CONTROL_FILE = "central-control.json"
TIMEOUT_S = 5.0


class ControlError(Exception):
    """The control listener could not be reached or refused the change (message says why)."""


def write_control_file(data: Path, control_url: str) -> Path:
    path = data / CONTROL_FILE
    path.write_text(json.dumps({"url": control_url}) + "\n", encoding="utf-8")
    return path


def control_url(data: Path) -> str:
    try:
        return str(json.loads((data / CONTROL_FILE).read_text(encoding="utf-8"))["url"])
    except (OSError, ValueError, KeyError) as exc:
        raise ControlError(
            "模擬中央サービスが起動していません / the simulated central is not running "
            f"(no {data / CONTROL_FILE})"
        ) from exc


def _context(pki: PkiPaths) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.central_ca_cert))
    context.load_cert_chain(pki.device_cert, pki.device_key)
    return context


def call(url: str, pki: PkiPaths, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET the fault state, or POST `changes`; the state afterwards."""
    body = None if changes is None else json.dumps(changes).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="GET" if body is None else "POST")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=_context(pki)) as answer:
            state = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        raise ControlError(f"{exc.code}: {reason}") from None
    except (OSError, ValueError) as exc:
        raise ControlError(
            f"模擬中央サービスに接続できません / cannot reach the simulator control: {exc}"
        ) from None
    if not isinstance(state, dict):
        raise ControlError("unexpected answer from the simulator control")
    return state
