"""A simulated status light: a TCP server speaking the light's line protocol (docs/signal.md).

The appliance reaches it as `signal_light_url = socket://127.0.0.1:N`. Its state can be read
in-process (`SimLight.state`, `.history`) or over the protocol itself (`Q` answers `L <state>`).
`stop()` closes the listener and every connection, as pulling the USB cable would; `start()`
again on the same port is the replug.

Written from the protocol document, not from device/signal.py (the simulator speaks the wire
format only, like the firmware sketch).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from sim.tcpsim import TcpSimulator

STATES = ("idle", "reading", "waiting", "confirmed", "staff", "down")
HELLO = "ONSHI-LIGHT 1 sim-1.0"


@dataclass(frozen=True)
class Shown:
    state: str
    at: float  # time.monotonic() when the line arrived


class SimLight(TcpSimulator):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(host, port)
        self.state = "off"  # until the appliance says something
        self.history: list[Shown] = []
        self.buzzes: list[int] = []  # milliseconds of each buzz asked for
        self.lines = 0
        self._on_change = on_change

    # -- the protocol ------------------------------------------------------------------
    def answer(self, line: str) -> str:
        """One request line (without "\\n") → the answer line (without "\\n")."""
        with self._lock:
            self.lines += 1
        words = line.strip().split()
        if not words:
            return "ERR empty"
        command, args = words[0].upper(), words[1:]
        if command == "H":
            return HELLO
        if command == "Q":
            return f"L {self.state}"
        if command == "L" and len(args) == 1 and args[0] in STATES:
            with self._lock:
                changed = args[0] != self.state
                self.state = args[0]
                self.history.append(Shown(args[0], time.monotonic()))
                self._lock.notify_all()
            if changed and self._on_change is not None:
                self._on_change(args[0])
            return "OK"
        if command == "B" and len(args) == 1 and args[0].isdigit() and int(args[0]) <= 5000:
            with self._lock:
                self.buzzes.append(int(args[0]))
            return "OK"
        return f"ERR {command.lower()}"

    def wait_for(self, state: str, timeout_s: float = 10.0) -> bool:
        """True once the light shows `state` (for tests and the demo)."""
        with self._lock:
            return self._lock.wait_for(lambda: self.state == state, timeout_s)

    # -- the listener ------------------------------------------------------------------
    def serve(self, connection: socket.socket) -> None:
        with connection.makefile("rb") as lines:
            for raw in lines:
                reply = self.answer(raw.decode("ascii", "replace"))
                connection.sendall(reply.encode("ascii") + b"\n")
