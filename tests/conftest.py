"""Fixtures shared by every tier: the real PC/SC stack and the simulated outside world."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

VPCD_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
DRILL_BUDGETS = {"small": 1, "large": 10}  # tests/drills: the suite's budget and `make drills`
_CLOCK_SHIFT = pytest.StashKey[Any]()  # the running time_machine.travel, when shifted


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
    parser.addoption(
        "--clock-shift-days",
        type=int,
        default=0,
        metavar="N",
        help="run with Python's wall clock moved N days (negative: back); monotonic clocks, "
        "OpenSSL and child processes keep the real time",
    )


def pytest_configure(config: pytest.Config) -> None:
    days = config.getoption("clock_shift_days")
    if days:
        import time_machine

        # tick=True: the shifted clock keeps running, so timeouts and ages still pass.
        travel = time_machine.travel(timedelta(days=days), tick=True)
        travel.start()
        config.stash[_CLOCK_SHIFT] = travel


def pytest_unconfigure(config: pytest.Config) -> None:
    travel = config.stash.get(_CLOCK_SHIFT, None)
    if travel is not None:
        travel.stop()
        del config.stash[_CLOCK_SHIFT]


def pytest_report_header(config: pytest.Config) -> str | None:
    days = config.getoption("clock_shift_days")
    if not days:
        return None
    return f"clock shifted {days:+d} days: Python's clock reads {datetime.now(UTC):%Y-%m-%d %H:%M}Z"


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
    """One test PKI for the whole run, valid at the run's clock (key generation is the slow
    part)."""
    from sim.pki import build_pki
    from sim.population import population

    return build_pki(tmp_path_factory.mktemp("pki"), population())


@pytest.fixture(scope="session")
def pki_at(sim_pki, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """pki_at(instant): the test PKI as built at that instant, for tests that fix the date
    (the session PKI's keys, certificates signed again where their validity must differ)."""
    from sim.pki import build_pki
    from sim.population import population

    built: dict[datetime, Any] = {}

    def at(instant: datetime) -> Any:
        if instant not in built:
            root = tmp_path_factory.mktemp(f"pki-{instant:%Y%m%dT%H%M}")
            shutil.copytree(sim_pki.root, root, dirs_exist_ok=True)
            built[instant] = build_pki(root, population(), now=instant)
        return built[instant]

    return at


@pytest.fixture(scope="session")
def openssl_now(request: pytest.FixtureRequest) -> Callable[[], datetime]:
    """The time OpenSSL checks certificates against: the real clock, which --clock-shift-days
    does not move. For tests that make a certificate at a given time and use it in real TLS."""
    shift = timedelta(days=request.config.getoption("clock_shift_days"))
    return lambda: datetime.now(UTC) - shift


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
