"""Telling systemd how the service is doing (sd_notify(3)): READY=1 once both listeners answer,
so units ordered after onshi.service (the kiosk screen) start when the kiosk page can be loaded;
while a long migration runs at start, that it is still starting. Does nothing outside a
Type=notify unit (no NOTIFY_SOCKET)."""

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


# How much longer than its start timeout systemd waits each time the appliance says it is
# still starting: a few batches of a migration at least, on an SD card.
START_EXTENSION_S = 60


def still_starting(environ: Mapping[str, str] | None = None) -> bool:
    """A start that goes on longer than usual (a large store's migration): systemd extends its
    start timeout (TimeoutStartSec) by START_EXTENSION_S from now instead of killing it."""
    return notify(
        f"EXTEND_TIMEOUT_USEC={START_EXTENSION_S * 1_000_000}\n"
        "STATUS=データベースを更新しています / migrating the database",
        environ,
    )
