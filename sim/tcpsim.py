"""A simulated serial device on a TCP port, what pyserial's `socket://host:port` reaches: the
status light (sim/light.py) and the ticket printer (sim/printer.py) share its listener.

`start` listens (port 0: any free one, then `port` says which); each connection is served by
the subclass's `serve(connection)` on its own thread; `stop` is the device unplugged: no
listener, every connection cut.
"""

from __future__ import annotations

import socket
import socketserver
import threading


class TcpSimulator:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Condition()  # also guards the subclass's own state
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def serve(self, connection: socket.socket) -> None:
        """Speak the device's protocol on one connection until it closes (OSError ends it)."""
        raise NotImplementedError

    def start(self) -> None:
        device = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with device._lock:
                    device._connections.add(self.request)
                try:
                    device.serve(self.request)
                except OSError:
                    pass
                finally:
                    with device._lock:
                        device._connections.discard(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Unplugged: no listener, every connection cut."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
