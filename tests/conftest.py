"""Fixtures shared by every tier: the real PC/SC stack and the simulated outside world."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

VPCD_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
DRILL_BUDGETS = {"small": 1, "large": 10}  # tests/drills: the suite's budget and `make drills`


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reader", default=None, help="run the real-reader tier against this PC/SC reader name"
    )
    parser.addoption(
        "--drill-budget",
        choices=tuple(DRILL_BUDGETS),
        default="small",
        help="how hard the drills and fuzzers work (small in the suite, large in make drills)",
    )


def _readers() -> list[str] | None:
    from smartcard.scard import (
        SCARD_S_SUCCESS,
        SCARD_SCOPE_USER,
        SCardEstablishContext,
        SCardListReaders,
        SCardReleaseContext,
    )

    rc, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if rc != SCARD_S_SUCCESS:
        return None
    try:
        rc, names = SCardListReaders(ctx, [])
        return list(names) if rc == SCARD_S_SUCCESS else []
    finally:
        SCardReleaseContext(ctx)


def _start_pcscd() -> subprocess.Popen[bytes]:
    binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not Path(binary).exists():
        pytest.fail("pcscd is not installed: run `make setup` (Debian pcscd, vsmartcard-vpcd)")
    child = subprocess.Popen(
        [binary, "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while not _readers():
        if time.monotonic() > deadline:
            child.terminate()
            pytest.fail("pcscd did not come up with the vpcd readers within 10 s")
        time.sleep(0.2)
    return child


class Pcscd(list[str]):
    """The reader names, and the pcscd process when the tests started it themselves."""

    child: subprocess.Popen[bytes] | None = None

    def restart(self) -> None:
        """Kill pcscd and start it again (only a pcscd the tests own)."""
        if self.child is None:
            pytest.skip("pcscd was started outside the tests; not restarting it")
        self.child.kill()
        self.child.wait(10)
        self.child = _start_pcscd()


@pytest.fixture(scope="session")
def pcscd() -> Iterator[Pcscd]:
    """A running pcscd with the vpcd readers; started (and stopped) here when none runs."""
    child = None
    readers = _readers()
    if readers is None:
        child = _start_pcscd()
        readers = _readers() or []
    missing = [r for r in VPCD_READERS if r not in readers]
    if missing:
        pytest.fail(
            f"vpcd readers {missing} missing (found {readers}): install vsmartcard-vpcd "
            "and restart pcscd"
        )
    running = Pcscd(readers)
    running.child = child
    yield running
    if running.child is not None:
        running.child.terminate()
        running.child.wait(10)


@pytest.fixture(scope="session")
def sim_pki(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One test PKI for the whole run (key generation is the slow part)."""
    from sim.pki import build_pki
    from sim.population import population

    return build_pki(tmp_path_factory.mktemp("pki"), population())


@pytest.fixture(scope="session")
def card_audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every APDU every emulated card received during the run (checked at the end)."""
    return tmp_path_factory.mktemp("card-audit") / "apdus.jsonl"


@pytest.fixture(scope="session")
def central_server(sim_pki):  # type: ignore[no-untyped-def]
    """The simulated central service over real mutual TLS, for the whole run."""
    from sim.central.server import CentralServer

    server = CentralServer(sim_pki)
    server.start()
    yield server
    server.stop()
