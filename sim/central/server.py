"""The simulated central service behind a real WSGI server with mutual TLS (cheroot)."""

from __future__ import annotations

import signal
import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from types import FrameType

from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Server

from sim.central.app import create_app
from sim.central.service import CentralService
from sim.pki import PkiPaths
from sim.population import Person
from sync.clock import utc_now


def server_tls_context(pki: PkiPaths) -> ssl.SSLContext:
    """TLS 1.2+ with the server certificate; client certificates from the device CA required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.central_server_cert, pki.central_server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=pki.device_ca_cert)
    return context


class CentralServer:
    def __init__(
        self,
        pki: PkiPaths,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        people: Sequence[Person] | None = None,
        threads: int = 8,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.service = CentralService(pki, people, latency_s=latency_s, clock=clock)
        self._server = Server((host, port), create_app(self.service), numthreads=threads)
        adapter = BuiltinSSLAdapter(str(pki.central_server_cert), str(pki.central_server_key))
        adapter.context = server_tls_context(pki)
        self._server.ssl_adapter = adapter
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.bind_addr[:2]
        return f"https://{host}:{port}"

    def start(self) -> None:
        """Bind (port 0 → an ephemeral port, see .url) and serve on a background thread."""
        if self._thread is not None:
            return
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="central-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.stop()
        self._thread.join(timeout=10)
        self._thread = None

    def serve_forever(self) -> None:
        """Serve until Ctrl-C or SIGTERM (the CLI), then stop cleanly."""
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_signal)
        self.start()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            signal.signal(signal.SIGTERM, previous)

    def __enter__(self) -> CentralServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
