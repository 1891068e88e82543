"""Card visits on the official terminal's reader, through real folders: the real `onshi sim
terminal` process writes face files for cards placed on its reader (by the `onshi sim face`
command and the same request files), and the appliance's face watcher stores each through the
one confirmation path into a real SQLite store — every card of the synthetic population, the
terminal's half-written and duplicate files, and a whole appliance stopped while files land.
Also every person of the population by numbers through the same terminal."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from device.appliance import Appliance, build_appliance
from device.config import load_config
from device.confirm import Confirmations
from device.events import ConfirmationStored, EventBus, Subscription
from device.facewatch import FaceInbox, FaceWatcher
from sim.population import Person, population
from sim.terminal import place_on_reader, wait_taken
from sync.folders import FolderTransport
from sync.store import Confirmation, Store
from sync.transport import QualificationTransport
from web.labels import Badge

from .conftest import MEDICAL_INSTITUTION_CODE
from .test_folder_transport import ONSHI, as_typed, checks_over, data, sim_terminal, store

__all__ = ["data", "store"]

pytestmark = pytest.mark.stack

LONG_S = 30.0
BADGE_OF_VALIDITY = {
    "1": Badge.VALID,
    "2": Badge.INVALID,
    "3": Badge.INVALID_NEWER,
    "4": Badge.NOT_FOUND,
    "5": Badge.MULTIPLE,
    "6": Badge.UNREGISTERED_AID,
}


def expected_badge(p: Person, *, by_card: bool) -> Badge:
    """What the desk shows for this person, from the population's facts alone."""
    if by_card and p.card_status in ("expired", "revoked"):
        return Badge.ERROR  # the central refuses the card's certificate
    if not p.registered:
        return Badge.NOT_FOUND
    if p.duplicate_of or any(q.duplicate_of == p.id for q in population()):
        return Badge.MULTIPLE
    return BADGE_OF_VALIDITY[p.validity]


def face_inbox(root: Path, store: Store, bus: EventBus) -> FaceInbox:
    confirmations = Confirmations(
        transport=cast(QualificationTransport, object()),  # face files need no request
        store=store,
        bus=bus,
    )
    return FaceInbox(
        folder=root / "face",
        store=store,
        confirmations=confirmations,
        medical_institution_code=MEDICAL_INSTITUTION_CODE,
    )


class Desk:
    """The face watcher over a real store: what the appliance runs in folders mode."""

    def __init__(self, root: Path, store: Store) -> None:
        self.store = store
        bus = EventBus()
        self.events: Subscription = bus.subscribe()
        self.watcher = FaceWatcher(face_inbox(root, store, bus), rescan_s=0.2)

    def next_stored(self) -> Confirmation:
        deadline = time.monotonic() + LONG_S
        while (left := deadline - time.monotonic()) > 0:
            event = self.events.get(left)
            if isinstance(event, ConfirmationStored):
                stored = self.store.confirmation(event.confirmation_id)
                assert stored is not None
                return stored
        raise AssertionError("no face file was stored")


@pytest.fixture
def desk(tmp_path: Path, store: Store) -> Iterator[Desk]:
    desk = Desk(tmp_path / "terminal", store)
    yield desk
    desk.watcher.stop()
    desk.events.close()


def test_every_card_of_the_population_by_face_file(
    tmp_path: Path, data: Path, store: Store, desk: Desk
) -> None:
    root = tmp_path / "terminal"
    holders = [p for p in population() if p.card_status != "none"]
    with sim_terminal(root, data, "--delay", "0"):
        desk.watcher.start()
        # the first through the command the sandbox runs, the rest by the same request files
        done = subprocess.run(
            [str(ONSHI), "sim", "face", "--root", str(root), "--person", holders[0].id],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        seconds: list[float] = []
        for n, p in enumerate(holders):
            placed = time.monotonic()
            if n > 0:
                assert wait_taken(place_on_reader(root, p.id), LONG_S)
            stored = desk.next_stored()
            if n > 0:
                seconds.append(time.monotonic() - placed)
            badge = expected_badge(p, by_card=True)
            assert stored.badge == badge.name, p.id
            assert (stored.kind, stored.method, stored.source) == ("card", "face", "online")
            assert stored.result.reference_classification == "1"
            assert stored.result.character_code == "1"  # Shift_JIS, as the terminal's files
            if badge in (Badge.VALID, Badge.INVALID, Badge.UNREGISTERED_AID):
                (shown,) = stored.result.results
                assert (shown.name, shown.birthdate) == (p.name, p.birthdate), p.id
    assert store.count_confirmations() == len(holders)
    assert len(os.listdir(root / "face")) == len(holders)
    seconds.sort()
    print(
        f"card on the terminal's reader → stored: median {seconds[len(seconds) // 2] * 1000:.0f} "
        f"ms, max {seconds[-1] * 1000:.0f} ms over {len(seconds)} cards"
    )


def test_half_written_and_duplicate_face_files_are_stored_once(
    tmp_path: Path, data: Path, store: Store, desk: Desk
) -> None:
    root = tmp_path / "terminal"
    with sim_terminal(root, data, "--delay", "0", "--half-written", "--duplicate"):
        desk.watcher.start()
        for person_id in ("P001", "P013"):
            assert wait_taken(place_on_reader(root, person_id), LONG_S)
            stored = desk.next_stored()
            assert stored.badge == expected_badge(_person(person_id), by_card=True).name
        # each visit's files: its name twice and a second name, each written in two parts
        deadline = time.monotonic() + LONG_S
        while len(os.listdir(root / "face")) < 4:
            assert time.monotonic() < deadline, os.listdir(root / "face")
            time.sleep(0.05)
    desk.watcher.stop()
    assert face_inbox(root, store, EventBus()).scan().stored == 0  # all seen again: none new
    assert store.count_confirmations() == 2


def test_every_person_by_numbers_through_the_terminal(
    tmp_path: Path, data: Path, store: Store
) -> None:
    root = tmp_path / "terminal"
    with (
        sim_terminal(root, data, "--delay", "0"),
        FolderTransport(root, timeout_s=20, rescan_s=0.2) as transport,
    ):
        checks, _ = checks_over(transport, store, EventBus())
        for p in population():
            stored = checks.check(as_typed(p.id), actor="uketsuke")
            badge = expected_badge(p, by_card=False)
            assert stored.badge == badge.name, p.id
            if badge is Badge.VALID:
                (shown,) = stored.result.results
                assert (shown.name, shown.contribution_ratio) == (p.name, p.contribution_ratio)
    assert store.count_confirmations() == len(population())


def test_face_files_landing_while_the_appliance_is_stopped_are_stored_once(
    tmp_path: Path, data: Path, sim_pki: Any, pcscd: list[str]
) -> None:
    root = tmp_path / "terminal"

    def appliance() -> Appliance:
        config = load_config(
            environ={},
            overrides={
                "data_dir": tmp_path / "box",
                "central_mode": "folders",
                "terminal_root": root,
                "terminal_rescan_s": 0.2,
                "central_url": "https://127.0.0.1:9",  # unused: the folders are the channel
                "central_ca": sim_pki.central_ca_cert,
                "device_cert": sim_pki.device_cert,
                "device_key": sim_pki.device_key,
                "jpki_root_file": sim_pki.jpki_root_cert,
                "reader": "Virtual PCD 00 01",
                "staff_port": 0,
                "kiosk_port": 0,
            },
        )
        app = build_appliance(config)
        app.start()
        return app

    def stored_names(app: Appliance, count: int) -> list[str]:
        deadline = time.monotonic() + LONG_S
        store = app.services.store
        while store.count_confirmations() < count:
            assert time.monotonic() < deadline, store.count_confirmations()
            time.sleep(0.05)
        rows = store.confirmations_after(0, 100)
        return sorted(r.result.results[0].name for r in rows)

    def landed(count: int) -> None:
        deadline = time.monotonic() + LONG_S
        while len(os.listdir(root / "face")) < count:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    with sim_terminal(root, data, "--delay", "0"):
        first = appliance()
        try:
            assert wait_taken(place_on_reader(root, "P001"), LONG_S)
            assert stored_names(first, 1) == ["佐藤　翔太"]
        finally:
            first.stop()
        # the box is off: two visits on the official reader land meanwhile
        for person_id in ("P004", "P010"):
            assert wait_taken(place_on_reader(root, person_id), LONG_S)
        landed(3)
        second = appliance()
        try:
            assert stored_names(second, 3) == ["佐藤　翔太", "田中　誠", "鈴木　健一"]
        finally:
            second.stop()
        third = appliance()
        try:
            # alive (a new visit is stored), and nothing stored before is stored again
            assert wait_taken(place_on_reader(root, "P006"), LONG_S)
            names = stored_names(third, 4)
            time.sleep(1.0)  # several rescans of the folder: a file taken twice would show
            assert third.services.store.count_confirmations() == 4
        finally:
            third.stop()
    assert names == ["佐藤　翔太", "田中　誠", "鈴木　健一", "高橋　隆"]


def _person(person_id: str) -> Person:
    return next(p for p in population() if p.id == person_id)
