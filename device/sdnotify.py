"""Telling systemd how the service is doing (sd_notify(3)): READY=1 once both listeners answer,
so units ordered after onshi.service (the kiosk screen) start when the kiosk page can be loaded.
Does nothing outside a Type=notify unit (no NOTIFY_SOCKET)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `state` ("READY=1", "STOPPING=1", "STATUS=…") to systemd; False when there is no
    one to tell or the message could not be sent (never raises: a missing manager is not an
    error of the appliance)."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in ("/", "@"):
        return False
    target = "\0" + address[1:] if address[0] == "@" else address  # "@": abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True
