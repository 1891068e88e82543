"""sync/central.py under a misbehaving service: the overall deadline, the size cap while reading
and after inflating, and the four categories of failure."""

from __future__ import annotations

import gzip
import math
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from device.config import parse_setting
from device.settings import SETTINGS_BY_NAME
from sync.central import (
    CentralClient,
    CentralFault,
    CentralRefused,
    CentralUnavailable,
    CentralUnreadable,
    CentralUntrusted,
)
from sync.xmlmsg import MAX_MESSAGE_BYTES
from tests.unit.test_central_client import REQUEST, result_for


def client(handler: httpx.MockTransport, **kwargs: object) -> CentralClient:
    return CentralClient(
        "https://central.test",
        verify=False,
        transport=handler,
        sleep=lambda s: None,
        **kwargs,  # type: ignore[arg-type]
    )


class Counted(httpx.SyncByteStream):
    """A body handed out in chunks, counting how much the client pulled."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.pulled += len(chunk)
            yield chunk


def endless(block: bytes, pause_s: float = 0.0) -> Iterator[bytes]:
    while True:
        if pause_s:
            time.sleep(pause_s)
        yield block


def test_a_body_past_the_cap_is_refused_while_reading_as_unreadable() -> None:
    body = Counted(endless(b"<" * 65536))
    c = client(httpx.MockTransport(lambda r: httpx.Response(200, stream=body)))
    with pytest.raises(CentralUnreadable, match="too large"):
        c.confirm(REQUEST)
    assert body.pulled <= MAX_MESSAGE_BYTES + 65536  # stopped at the cap, not at the end


def test_a_declared_length_past_the_cap_is_refused_before_reading() -> None:
    body = Counted(endless(b"<"))
    headers = {"Content-Length": str(100 * 1024 * 1024)}
    c = client(httpx.MockTransport(lambda r: httpx.Response(200, headers=headers, stream=body)))
    with pytest.raises(CentralUnreadable, match="too large"):
        c.confirm(REQUEST)
    assert body.pulled == 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compression_bomb_is_refused_without_inflating_it(encoding: str) -> None:
    zeros = b"\0" * (50 * MAX_MESSAGE_BYTES)
    bomb = gzip.compress(zeros) if encoding == "gzip" else zlib.compress(zeros)
    assert len(bomb) < MAX_MESSAGE_BYTES // 4  # small on the wire
    headers = {"Content-Encoding": encoding}
    c = client(
        httpx.MockTransport(
            lambda r: httpx.Response(200, headers=headers, stream=httpx.ByteStream(bomb))
        )
    )
    with pytest.raises(CentralUnreadable, match="decompressed"):
        c.confirm(REQUEST)


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", raw_deflate)],
    ids=["gzip", "deflate-zlib", "deflate-raw"],
)
def test_a_compressed_answer_within_the_cap_is_read(
    encoding: str, pack: Callable[[bytes], bytes]
) -> None:
    packed = pack(result_for("abc123"))
    headers = {"Content-Encoding": encoding}
    c = client(
        httpx.MockTransport(
            lambda r: httpx.Response(200, headers=headers, stream=httpx.ByteStream(packed))
        )
    )
    assert c.confirm(REQUEST).raw == result_for("abc123")


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("br", b"\x0b\x02\x80hello\x03"), ("gzip", b"not gzip at all"), ("gzip", b"\x1f\x8b")],
    ids=["unrequested-encoding", "not-gzip", "truncated"],
)
def test_an_answer_that_does_not_decode_is_unreadable(encoding: str, body: bytes) -> None:
    headers = {"Content-Encoding": encoding}
    c = client(
        httpx.MockTransport(
            lambda r: httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))
        )
    )
    with pytest.raises(CentralUnreadable):
        c.confirm(REQUEST)


def test_a_malformed_answer_is_unreadable_not_refused() -> None:
    c = client(httpx.MockTransport(lambda r: httpx.Response(200, content=b"<<garbage")))
    with pytest.raises(CentralUnreadable) as caught:
        c.confirm(REQUEST)
    assert caught.value.fault is CentralFault.UNREADABLE
    assert not isinstance(caught.value, CentralRefused)


def test_a_huge_refusal_keeps_only_its_reason() -> None:
    body = Counted(endless(b"x" * 65536))
    c = client(httpx.MockTransport(lambda r: httpx.Response(403, stream=body)))
    with pytest.raises(CentralRefused) as caught:
        c.confirm(REQUEST)
    assert len(caught.value.reason) <= 500 and body.pulled < MAX_MESSAGE_BYTES


def test_a_trickling_body_ends_at_the_deadline_as_try_later() -> None:
    body = Counted(endless(b"<", pause_s=0.05))
    c = client(httpx.MockTransport(lambda r: httpx.Response(200, stream=body)), deadline_s=0.3)
    with pytest.raises(CentralUnavailable, match="within 0.3 s"):
        c.confirm(REQUEST)


def test_the_deadline_covers_the_retries_too() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        time.sleep(0.1)
        raise httpx.ConnectError("refused")

    c = client(httpx.MockTransport(handler), deadline_s=0.35, retries=1000)
    with pytest.raises(CentralUnavailable, match="within"):
        c.confirm(REQUEST)
    assert len(calls) < 10  # not a thousand retries


def test_a_certificate_from_another_ca_is_a_configuration_error_and_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        except ssl.SSLError as exc:
            raise httpx.ConnectError("handshake failed") from exc

    with pytest.raises(CentralUntrusted, match="central_ca") as caught:
        client(httpx.MockTransport(handler)).confirm(REQUEST)
    assert caught.value.fault is CentralFault.UNTRUSTED
    assert len(calls) == 1


@pytest.fixture
def trickling_headers() -> Iterator[int]:
    """A plain HTTP server that sends its status line and headers one byte at a time, for ever:
    every read gets a byte well inside any per-read timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100_000
            for byte in head:
                if stop.wait(0.02):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(5)


def test_trickled_headers_end_at_the_deadline_on_real_sockets(trickling_headers: int) -> None:
    c = CentralClient(
        f"http://127.0.0.1:{trickling_headers}",
        verify=False,
        timeout_s=5.0,
        deadline_s=0.5,
        retries=0,
    )
    started = time.monotonic()
    with pytest.raises(CentralUnavailable):
        c.confirm(REQUEST)
    c.close()
    assert time.monotonic() - started < 5.0  # the per-read timeout never fired; the deadline did


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "0.5", "301", "true", ""])
def test_central_deadline_setting_refuses_what_cannot_be_a_deadline(value: str) -> None:
    with pytest.raises(ValueError):
        parse_setting(SETTINGS_BY_NAME["central_deadline_s"], value)


def test_central_deadline_setting_accepts_a_sane_value() -> None:
    value = parse_setting(SETTINGS_BY_NAME["central_deadline_s"], "20")
    assert value == 20.0 and math.isfinite(value)
