"""Numbers checks through the official terminal's folders: the real `onshi sim terminal` process
on real directories, the appliance's ManualChecks and Confirmations over the FolderTransport, a
real SQLite store. No card reader and no fixed port: the folders are the only channel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from device.checks import CheckFailed, ManualChecks, NumbersInput
from device.clocktrust import TERMINAL_TIME_FRESH_S, ClockTrust, terminal_time
from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus
from device.outbox import Outbox
from sim.population import person
from sync.breaker import CircuitBreaker
from sync.clock import utc_now
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.folders import FolderTransport
from sync.store import Store
from sync.xmlmsg import parse_result
from web.labels import Badge

from .conftest import MEDICAL_INSTITUTION_CODE

ROOT = Path(__file__).resolve().parents[2]
ONSHI = Path(sys.executable).with_name("onshi")  # the installed command
START_S = 60.0  # the terminal process is up long before (its PKI is copied, not made)

# person → the badge the desk shows for their numbers (the population's scenarios)
EXPECTED = {
    "P001": Badge.VALID,  # 有効・3割・本人
    "P008": Badge.VALID,  # 国保, a 6-digit insurer number
    "P025": Badge.VALID,  # 資格確認書 only, no card
    "P007": Badge.VALID,  # a name outside JIS X 0208 (𠮷) through Shift_JIS files
    "P013": Badge.INVALID,  # 資格喪失
    "P014": Badge.INVALID_NEWER,  # an older qualification, a newer one exists
    "P016": Badge.NOT_FOUND,  # 該当資格なし
    "P017": Badge.MULTIPLE,  # 複数該当
}


def as_typed(person_id: str) -> NumbersInput:
    p = person(person_id)
    return NumbersInput(p.insurer_number, p.symbol, p.number, "", p.birthdate)  # branch: answered


@contextmanager
def sim_terminal(root: Path, data: Path, *flags: str) -> Iterator[subprocess.Popen[str]]:
    """`onshi sim terminal --root ROOT` as its own process, until the block ends."""
    command = [str(ONSHI), "sim", "terminal", "--root", str(root)]
    process = subprocess.Popen(
        [*command, "--data", str(data), *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + START_S
        line = process.stdout.readline()  # "terminal: …" once it is about to poll
        assert line.startswith("terminal:"), line + process.stdout.read()
        assert time.monotonic() < deadline
        yield process
    finally:
        process.terminate()  # SIGTERM: SIGINT is ignored when the suite runs in the background
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def data(sim_pki: Any, tmp_path: Path) -> Path:
    """The simulators' data directory holding the session's test PKI (no keys made again)."""
    where = tmp_path / "sim-data"
    shutil.copytree(sim_pki.root, where / "pki")
    return where


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    yield store
    store.close()


def checks_over(transport: Any, store: Store, bus: EventBus) -> tuple[ManualChecks, Outbox]:
    confirmations = Confirmations(transport=transport, store=store, bus=bus)
    outbox = Outbox(store=store, confirmations=confirmations, rate_per_s=50)
    checks = ManualChecks(
        medical_institution_code=MEDICAL_INSTITUTION_CODE,
        confirmations=confirmations,
        store=store,
        outbox=outbox,
    )
    return checks, outbox


@pytest.mark.parametrize("watch", [True, False], ids=["events", "rescan-only"])
def test_every_scenario_by_numbers_through_the_terminal_folders(
    tmp_path: Path, data: Path, store: Store, watch: bool
) -> None:
    root = tmp_path / "terminal"
    bus = EventBus()
    events = bus.subscribe()
    with (
        sim_terminal(root, data, "--delay", "0.05"),
        FolderTransport(root, timeout_s=20, rescan_s=0.2, watch=watch) as transport,
    ):
        checks, _ = checks_over(transport, store, bus)
        for person_id, badge in EXPECTED.items():
            stored = checks.check(as_typed(person_id), actor="uketsuke")
            p = person(person_id)
            assert stored.badge == badge.name, person_id
            assert (stored.kind, stored.source) == ("numbers", "online")
            assert stored.result.reference_classification == "2"
            assert stored.result.character_code == "1"  # the terminal answered in Shift_JIS
            if badge in (Badge.VALID, Badge.INVALID):
                (qualification,) = stored.result.results
                assert (qualification.name, qualification.birthdate) == (p.name, p.birthdate)
            assert list(events.drain()) == [ConfirmationStored(stored.id, None)]
        assert transport.watching is watch
    events.close()
    # Every request was handled and moved to trash/ by the terminal, every answer read and
    # moved there by the appliance: nothing is left waiting in the shared folders.
    assert os.listdir(root / "req") == [] and os.listdir(root / "res") == []
    trash = os.listdir(root / "trash")
    assert len([n for n in trash if n.startswith("OQSsiquc01req_")]) == len(EXPECTED)
    assert len([n for n in trash if n.startswith("OQSsiquc01res_")]) == len(EXPECTED)


def test_half_written_and_duplicate_answers_from_the_terminal(
    tmp_path: Path, data: Path, store: Store
) -> None:
    root = tmp_path / "terminal"
    with (
        sim_terminal(root, data, "--delay", "0", "--half-written", "--duplicate"),
        FolderTransport(root, timeout_s=20, rescan_s=0.2) as transport,
    ):
        checks, _ = checks_over(transport, store, EventBus())
        for person_id in ("P001", "P016"):
            stored = checks.check(as_typed(person_id), actor="uketsuke")
            assert stored.badge == EXPECTED[person_id].name
    # The stale answers for other ids are left where the terminal wrote them.
    stale = os.listdir(root / "res")
    assert len(stale) == 2 and all("stale" in name for name in stale)
    assert store.count_confirmations() == 2


def test_a_silent_terminal_is_the_outage_path_and_the_queue_is_answered_after_it(
    tmp_path: Path, data: Path, store: Store
) -> None:
    root = tmp_path / "terminal"
    bus = EventBus()
    with sim_terminal(root, data, "--silent"):
        with FolderTransport(root, timeout_s=0.5, rescan_s=0.1) as transport:
            breaker = CircuitBreaker(transport, failures=2, open_s=3600)
            checks, outbox = checks_over(breaker, store, bus)
            for person_id in ("P001", "P025"):
                with pytest.raises(CheckFailed) as failed:
                    checks.check(as_typed(person_id), actor="uketsuke")
                assert failed.value.reason == "central_unavailable" and failed.value.queued
            assert breaker.state.value == "open"
        # each request the terminal never took was taken back: nothing waits in req/
        assert os.listdir(root / "req") == []
    assert store.count_confirmations() == 0 and store.outbox_counts().queued == 2

    # The terminal answers again; the re-check queue asks again with the same ids.
    with (
        sim_terminal(root, data, "--delay", "0"),
        FolderTransport(root, timeout_s=20, rescan_s=0.2) as transport,
    ):
        _, outbox = checks_over(transport, store, bus)
        drained = outbox.drain()
    assert (drained.asked, drained.answered) == (2, 2)
    assert store.count_confirmations() == 2 and store.outbox_counts().queued == 0


def test_the_terminal_answers_the_harmless_health_request(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "terminal"
    with (
        sim_terminal(root, data, "--delay", "0"),
        FolderTransport(
            root, timeout_s=20, rescan_s=0.2, medical_institution_code=MEDICAL_INSTITUTION_CODE
        ) as transport,
    ):
        assert 0 < transport.health() < 20
    (answer,) = [n for n in os.listdir(root / "trash") if n.startswith("OQSsiquc01res_health")]
    assert parse_result((root / "trash" / answer).read_bytes()).validity == "4"  # 該当資格なし


def test_terminal_check_reports_the_round_trip_or_that_the_terminal_is_silent(
    tmp_path: Path, data: Path
) -> None:
    root = tmp_path / "terminal"
    env = {
        **os.environ,
        "ONSHI_CENTRAL_MODE": "folders",
        "ONSHI_TERMINAL_ROOT": str(root),
        "ONSHI_TERMINAL_TIMEOUT_S": "2",
        "ONSHI_DATA_DIR": str(tmp_path / "box"),
    }
    command = [str(ONSHI), "terminal", "check", "--json"]
    with sim_terminal(root, data):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["terminal_root"] == str(root) and report["round_trip_ms"] > 0
    silent = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert silent.returncode == 75  # the central (here: the terminal) did not answer
    assert "req" not in {p.parent.name for p in root.rglob("OQSsiquc01req_*.xml")}  # taken back
    api = subprocess.run(
        command, env={**env, "ONSHI_CENTRAL_MODE": "api"}, capture_output=True, text=True
    )
    assert api.returncode == 78 and "central_mode" in api.stderr


def test_the_terminals_answers_tell_the_time_a_box_set_wrong_is_found_and_corrected(
    tmp_path: Path, data: Path, store: Store
) -> None:
    """No time call through the folders: the stamps of the terminal's answers are the central's
    time (device/clocktrust.py). A box set ten minutes ahead is not trusted, and its rows are
    stamped with the terminal's time instead."""
    root = tmp_path / "terminal"
    ahead = timedelta(minutes=10)
    with (
        sim_terminal(root, data, "--delay", "0.05"),
        FolderTransport(
            root, timeout_s=20, rescan_s=0.2, medical_institution_code=MEDICAL_INSTITUTION_CODE
        ) as transport,
    ):
        trust = ClockTrust(
            tolerance_s=30,
            wall=lambda: utc_now() + ahead,
            synchronised=lambda: True,
            central_time=lambda: terminal_time(transport.harmless),
            observed_fresh_s=TERMINAL_TIME_FRESH_S,
        )
        reading = trust.measure()  # nothing seen yet: one harmless request
        assert reading.central_problem == ""
        assert reading.offset_s == pytest.approx(ahead.total_seconds(), abs=3)
        assert not reading.trusted
        assert abs(trust.now() - utc_now()) < timedelta(seconds=3)
        bus = EventBus()
        confirmations = Confirmations(
            transport=transport, store=store, bus=bus, on_answer=trust.observe_answer
        )
        checks = ManualChecks(
            medical_institution_code=MEDICAL_INSTITUTION_CODE,
            confirmations=confirmations,
            store=store,
        )
        fresh = ClockTrust(
            tolerance_s=30,
            wall=utc_now,
            synchronised=lambda: True,
            central_time=None,  # answers alone
            observed_fresh_s=TERMINAL_TIME_FRESH_S,
        )
        confirmations = Confirmations(
            transport=transport, store=store, bus=bus, on_answer=fresh.observe_answer
        )
        ManualChecks(
            medical_institution_code=MEDICAL_INSTITUTION_CODE,
            confirmations=confirmations,
            store=store,
        ).check(as_typed("P001"), actor="uketsuke")
        reading = fresh.measure()
        assert reading.trusted and reading.offset_s == pytest.approx(0, abs=3)
        checks.check(as_typed("P008"), actor="uketsuke")
        assert trust.measure(ask_central=False).offset_s == pytest.approx(600, abs=3)
