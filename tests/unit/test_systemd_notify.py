"""`onshi run` tells systemd READY=1 (Type=notify) once its listeners answer, so the kiosk
screen, ordered after it, never opens on a page that is not there yet."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import device.appliance
import device.cli
from device.cli import EXIT_OK
from device.errors_log import RecentErrors
from device.sdnotify import START_EXTENSION_S, notify, still_starting

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "onshi.service"


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A stand-in for systemd's notification socket."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)
        yield path, sock


def test_notify_sends_the_state_to_the_socket(manager: tuple[str, socket.socket]) -> None:
    path, sock = manager
    assert notify("READY=1", {"NOTIFY_SOCKET": path})
    assert sock.recv(64) == b"READY=1"


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"onshi-test-{threading.get_ident()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert notify("STATUS=ok", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"STATUS=ok"


def test_without_systemd_nothing_is_sent(tmp_path: Path) -> None:
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative/path"})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})


def test_onshi_run_is_ready_once_the_appliance_has_started(
    manager: tuple[str, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, sock = manager
    order: list[str] = []

    class Started:
        staff = SimpleNamespace(base_url="https://127.0.0.1:8080")
        kiosk = SimpleNamespace(base_url="http://127.0.0.1:8081")
        services = SimpleNamespace(config=SimpleNamespace(log_level="INFO"))

        def stop(self) -> None:
            order.append("stopped")

    def start_appliance(*_: object, **__: object) -> Started:
        order.append("started")
        return Started()

    stop = threading.Event()
    stop.set()  # as if SIGTERM came at once: start, report ready, stop
    monkeypatch.setattr(device.appliance, "start_appliance", start_appliance)
    monkeypatch.setattr(device.cli, "install_stop_signal", lambda: stop)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    level = logging.getLogger().level
    try:
        assert device.cli._run(None, RecentErrors()) == EXIT_OK
    finally:
        logging.getLogger().setLevel(level)  # _run applies the appliance's log level
    assert order == ["started", "stopped"]
    assert sock.recv(64) == b"READY=1"
    # A migration's "migrating the database" does not stay on `systemctl status` once started.
    assert sock.recv(64).decode() == "STATUS=稼働中 / running"
    assert "Type=notify" in UNIT.read_text().splitlines()


def test_a_long_start_asks_systemd_for_more_time(manager: tuple[str, socket.socket]) -> None:
    path, sock = manager
    assert still_starting({"NOTIFY_SOCKET": path})
    sent = sock.recv(256).decode().split("\n")
    assert sent[0] == f"EXTEND_TIMEOUT_USEC={START_EXTENSION_S * 1_000_000}"
    assert sent[1].startswith("STATUS=") and "migrating the database" in sent[1]
