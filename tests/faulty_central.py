"""A central service that misbehaves, on a loopback socket, for the drills and the stack tests.

Real TLS with the test PKI's central certificate (or one from another CA), the device CA asked
for client certificates, and plain sockets below: each fault is what a broken or hostile
server really does on the wire, not a mock. `/v1/nonce` always answers properly (so a card
visit reaches its confirm request); every other path gets the fault.
"""

from __future__ import annotations

import base64
import functools
import gzip
import ipaddress
import json
import os
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# What each fault does with a request (other than /v1/nonce).
FAULTS = (
    "closed_port",  # nothing listens
    "silent",  # accepts the connection, never says a word (no TLS handshake either)
    "wrong_ca",  # a proper answer, under a certificate from a CA the appliance does not pin
    "http_500",  # the service fails, every time
    "garbage",  # 200 with bytes that are no message
    "trickle",  # 200 and a huge body, a few bytes at a time
    "gzip_bomb",  # 200, 100 KB of gzip that inflates to 100 MB
    "huge",  # 200 and 100 MB as fast as the socket takes it
)
HUGE_BYTES = 100 * 1024 * 1024
TRICKLE_INTERVAL_S = 0.2


@dataclass(frozen=True)
class OtherCa:
    """A CA the appliance does not trust, and a server certificate for 127.0.0.1 from it."""

    cert: Path
    key: Path


def other_ca_server_cert(directory: Path) -> OtherCa:
    """A throwaway CA and a server certificate for 127.0.0.1 it issued (wide validity, so the
    real clock of OpenSSL accepts it whatever date the tests pretend)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the central CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "other-server.pem", directory / "other-server.key"
    cert_path.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    return OtherCa(cert_path, key_path)


class FaultyCentral:
    def __init__(self, fault: str, pki: Any, other_ca: OtherCa | None = None) -> None:
        assert fault in FAULTS, fault
        self.fault = fault
        if fault == "gzip_bomb":
            _bomb()  # made now, not while a test measures what the client holds
        self.requests: list[str] = []  # request paths, in order
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        if fault == "closed_port":
            self._listener.close()  # the port was ours a moment ago: now nothing listens
            self._thread: threading.Thread | None = None
            return
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if fault == "wrong_ca":
            assert other_ca is not None
            context.load_cert_chain(other_ca.cert, other_ca.key)
        else:
            context.load_cert_chain(pki.central_server_cert, pki.central_server_key)
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cafile=pki.device_ca_cert)
        self._context = context
        self._listener.listen(16)
        self._thread = threading.Thread(target=self._accept, name="faulty-central", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        if self._thread is None:
            return
        try:  # wakes the accept thread at once; a close alone leaves it blocked in accept()
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
        self._thread.join(5)
        assert not self._thread.is_alive(), "the faulty central's accept thread did not end"

    def __enter__(self) -> FaultyCentral:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the server -----------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            if self.fault == "silent":
                self._stop.wait()  # never a byte, not even the TLS handshake
                return
            conn = self._context.wrap_socket(raw, server_side=True)
            with self._lock:
                self._connections.append(conn)
            while not self._stop.is_set():
                path = _read_request(conn)
                if path is None:
                    return
                self.requests.append(path)
                if not self._answer(conn, path):
                    return
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            try:
                raw.close()
            except OSError:
                pass

    def _answer(self, conn: ssl.SSLSocket, path: str) -> bool:
        """Answer one request; False when the connection is done."""
        if path == "/v1/nonce" or self.fault == "wrong_ca":
            nonce = base64.b64encode(os.urandom(32)).decode()
            _send(conn, 200, json.dumps({"nonce": nonce}).encode(), "application/json")
            return True
        if self.fault == "http_500":
            _send(conn, 500, b'{"error": "internal"}', "application/json")
            return True
        if self.fault == "garbage":
            _send(conn, 200, b"\x00\xffthis is not XML <<<", "application/xml")
            return True
        if self.fault == "gzip_bomb":
            _send(conn, 200, _bomb(), "application/xml", encoding="gzip")
            return True
        if self.fault == "huge":
            head = _head(200, "application/xml", length=HUGE_BYTES)
            conn.sendall(head)
            block = b"<" * 65536
            for _ in range(HUGE_BYTES // len(block)):
                if self._stop.is_set():
                    return False
                conn.sendall(block)
            return False
        if self.fault == "trickle":
            conn.sendall(_head(200, "application/xml", chunked=True))
            while not self._stop.wait(TRICKLE_INTERVAL_S):
                conn.sendall(b"4\r\n<<<<\r\n")  # a few bytes per interval, for ever
            return False
        raise AssertionError(self.fault)


def _read_request(conn: ssl.SSLSocket) -> str | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return lines[0].split(" ")[1]


def _head(
    status: int, content_type: str, *, length: int | None = None, chunked: bool = False
) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _send(
    conn: ssl.SSLSocket, status: int, body: bytes, content_type: str, encoding: str = ""
) -> None:
    head = _head(status, content_type, length=len(body))
    if encoding:
        head = head[:-2] + f"Content-Encoding: {encoding}\r\n\r\n".encode()
    conn.sendall(head + body)


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * HUGE_BYTES, compresslevel=9)
