"""One WSGI app served by cheroot in a background thread (never `flask run`).

cheroot writes every chunk a response yields at once (chunked transfer), which is what the
server-sent event streams need. Port 0 binds a free port; `.port` tells which one.
Optional TLS (the staff listener on the LAN) uses the standard library's ssl through cheroot.
"""

from __future__ import annotations

import threading
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from flask import Flask

from web import sse

# Server header without version details
SERVER_NAME = "onshi-edge"


class WebServer:
    def __init__(
        self,
        app: Flask,
        host: str,
        port: int,
        numthreads: int = 16,
        *,
        certificate: Path | None = None,
        private_key: Path | None = None,
    ) -> None:
        if (certificate is None) != (private_key is None):
            raise ValueError("certificate and private_key go together")
        self._server = wsgi.Server(
            (host, port),
            app,
            numthreads=numthreads,
            server_name=SERVER_NAME,
            shutdown_timeout=2,
        )
        if certificate is not None and private_key is not None:
            self._server.ssl_adapter = BuiltinSSLAdapter(str(certificate), str(private_key))
        self._app = app
        self._thread: threading.Thread | None = None
        self.host = host

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    @property
    def tls(self) -> bool:
        return self._server.ssl_adapter is not None

    @property
    def base_url(self) -> str:
        """Where a browser on this machine reaches the listener, without the trailing slash."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> None:
        """Bind (errors raise here, in the caller's thread), then serve in the background."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        sse.reopen_streams(self._app)
        self._server.prepare()
        self._thread = threading.Thread(
            target=self._server.serve, name=f"web:{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        sse.close_streams(self._app)  # streams end, so the workers can
        self._server.stop()
        self._thread.join(timeout=5)
        self._thread = None
