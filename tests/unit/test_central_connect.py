"""The connect deadline: a central that takes the connection but never completes the TLS
handshake (a stuck VPN, a half-dead proxy) counts as unreachable after the connect deadline,
retries included, however long the whole call's deadline is."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from sync.central import CentralClient
from sync.transport import CentralUnavailable


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_a_handshake_that_never_ends_is_unreachable_by_the_connect_deadline(
    silent_port: int,
) -> None:
    client = CentralClient(
        f"https://127.0.0.1:{silent_port}",
        verify=ssl.create_default_context(),
        timeout_s=30,
        deadline_s=60,
        retries=5,
        connect_timeout_s=0.3,
    )
    try:
        with pytest.raises(CentralUnavailable, match="not reached within 0.3 s"):
            client.nonce()
    finally:
        client.close()
