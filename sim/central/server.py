"""The simulated central service behind a real WSGI server with mutual TLS (cheroot)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Server
from flask import Flask

from sim.central.app import CONTROL_PATH, create_app, create_control_app
from sim.central.bulk import DEFAULT_BULK_DELAY_S
from sim.central.faults import NORMAL, Faults, FaultSettings
from sim.central.service import CentralService
from sim.pki import PkiPaths
from sim.population import Person
from sim.stopsignal import stop_on_sigterm
from sync.clock import utc_now


def server_tls_context(pki: PkiPaths) -> ssl.SSLContext:
    """TLS 1.2+ with the server certificate; client certificates from the device CA required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.central_server_cert, pki.central_server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=pki.device_ca_cert)
    return context


CONTROL_HOST = "127.0.0.1"  # the fault switches are never offered beyond this machine
FAULT_POLL_S = 0.05  # how often the listener follows the fault state (flapping by the clock)


def _free_port(host: str, avoid: int = 0) -> int:
    """A port free now, other than `avoid` (a port this server has picked but not bound yet:
    the kernel may hand a just-probed port out again)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, 0))
            found = int(probe.getsockname()[1])
        if found != avoid:
            return found


def _serve(server: Server, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve, name=name, daemon=True)
    thread.start()
    return thread


class CentralServer:
    """The service's listener and, on loopback, its control listener (the fault switches).

    In down mode (and the down phases of flapping) the service listener is closed, so callers
    are refused; it is opened again on the same port. The control listener stays up.
    """

    def __init__(
        self,
        pki: PkiPaths,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        people: Sequence[Person] | None = None,
        threads: int = 8,
        clock: Callable[[], datetime] = utc_now,
        faults: FaultSettings = NORMAL,
        control_port: int = 0,
        bulk_delay_s: float = DEFAULT_BULK_DELAY_S,
    ) -> None:
        self.service = CentralService(
            pki,
            people,
            latency_s=latency_s,
            clock=clock,
            faults=faults,
            bulk_delay_s=bulk_delay_s,
        )
        self._pki = pki
        self._host = host
        # A fixed port from the start: cheroot marks only fixed ports SO_REUSEADDR, which
        # reopening after an outage needs (the old connections linger in TIME_WAIT).
        self._port = port or _free_port(host)
        self._threads = threads
        self._app = create_app(self.service)
        self._listener: Server | None = None
        self._listener_thread: threading.Thread | None = None
        # The control listener's port is fixed here too: bound later to port 0, it could be
        # given the service's port, probed above and not yet bound.
        self._control = self._server(
            CONTROL_HOST,
            control_port or _free_port(CONTROL_HOST, avoid=self._port),
            create_control_app(self.service.faults),
            2,
        )
        self._control_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        """The Python API of the fault switches (tests): `.switch(mode=...)`, `.status()`."""
        return self.service.faults

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self._port}"

    @property
    def control_url(self) -> str:
        host, port = self._control.bind_addr[:2]
        return f"https://{host}:{port}{CONTROL_PATH}"

    @property
    def listening(self) -> bool:
        with self._lock:
            return self._listener is not None

    def _server(self, host: str, port: int, app: Flask, threads: int) -> Server:
        server = Server((host, port), app, numthreads=threads)
        adapter = BuiltinSSLAdapter(
            str(self._pki.central_server_cert), str(self._pki.central_server_key)
        )
        adapter.context = server_tls_context(self._pki)
        server.ssl_adapter = adapter
        return server

    def start(self) -> None:
        """Bind (port 0 → an ephemeral port, see .url) and serve on background threads."""
        if self._watcher is not None:
            return
        self._stopping.clear()
        self.service.faults.resume()
        self._control.prepare()
        self._control_thread = _serve(self._control, "central-sim-control")
        self.apply_faults()
        self._watcher = threading.Thread(target=self._watch, name="central-sim-faults", daemon=True)
        self._watcher.start()

    def apply_faults(self) -> None:
        """Open or close the service listener as the fault state says now. The watcher does
        this every FAULT_POLL_S; a test that moved the clock calls it to not wait."""
        with self._lock:  # read inside: a stale reading must not undo a newer one
            down = self.service.faults.down()
            if self._stopping.is_set():
                return
            if down:
                self._close()
            else:
                self._open()

    def _watch(self) -> None:
        while not self._stopping.wait(FAULT_POLL_S):
            self.apply_faults()

    def _open(self) -> None:
        if self._listener is not None:
            return
        listener = self._server(self._host, self._port, self._app, self._threads)
        listener.prepare()
        self._listener = listener
        self._listener_thread = _serve(listener, "central-sim")

    def _close(self) -> None:
        if self._listener is None:
            return
        self._listener.stop()
        if self._listener_thread is not None:
            self._listener_thread.join(timeout=10)
        self._listener, self._listener_thread = None, None

    def stop(self) -> None:
        if self._watcher is None:
            return
        self._stopping.set()
        self.service.faults.close()
        self._watcher.join(timeout=10)
        self._watcher = None
        with self._lock:
            self._close()
        self._control.stop()
        if self._control_thread is not None:
            self._control_thread.join(timeout=10)
            self._control_thread = None

    def serve_forever(self) -> None:
        """Serve until Ctrl-C or SIGTERM (the CLI), then stop cleanly."""
        stop = threading.Event()
        with stop_on_sigterm(stop):
            self.start()
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            finally:
                self.stop()

    def __enter__(self) -> CentralServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
