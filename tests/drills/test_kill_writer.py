"""Drill: SIGKILL the writer at random moments; nothing it acknowledged is ever lost.

A child process opens the real store (sync/store/ on a real SQLite file, WAL,
synchronous=FULL, field keys from a key file) and saves the way the appliance does: card
visits (the answer and the visit that ended with it, as device/flow.py saves them), manual
numbers checks through device/checks.py's ManualChecks (a central that answers from the
samples), visits that ended without an answer, and audit-only entries (a confirmation
viewed). It prints one line per save only after the save returned: that line is the
acknowledgement staff would have seen. The parent kills it with SIGKILL at a random moment
(fixed seed), from the first open of an empty file (migrations) to the middle of a commit,
then reopens the file: every acknowledged answer is there and decrypts, every stored
answer has its audit entry and its visit, `PRAGMA integrity_check` is ok, the audit chain
verifies. The next child is started while the current one writes, so start-up costs little.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import random
import secrets
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from device.checks import ManualChecks, NumbersInput
from device.confirm import Confirmations
from device.events import EventBus
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, VisitRecord
from sync.xmlmsg import build_result, parse_request, parse_result

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "unit" / "samples"
CARD_SAMPLE = SAMPLES / "OQSsiquc01res_face_20240401091500002.xml"  # with consent flags
NUMBERS_SAMPLE = SAMPLES / "OQSsiquc01res_20240401090000001.xml"
SEED = 8
KILLS = 200  # per series: ten series from `make drills`
KILLS_SUITE = 100  # the suite's one series (each kill waits for the writer's fsync'd saves)
# Where a kill lands: a share of them while the writer starts and opens the file (WAL
# recovery after the previous kill, migrations on an empty file), the others after a random
# number of acknowledged saves, a random moment into the next (a save takes milliseconds).
# Counting saves rather than waiting fixed times keeps the drill the same on a busy machine.
EARLY_SHARE = 0.15
EARLY_WINDOW_S = 0.05
MAX_SAVES_BEFORE_KILL = 12
SAVE_WINDOW_S = 0.01
EXIT_TIMEOUT_S = 30.0


def write_until_killed(db: str, key: str, acks: str) -> None:
    """The child: open the store, save, and acknowledge each save until killed.

    An acknowledgement is one line written with os.write after the save returned: once the
    call returns the line is the kernel's, so a SIGKILL cannot take it back."""
    card_template = parse_result(CARD_SAMPLE.read_bytes())
    numbers_template = parse_result(NUMBERS_SAMPLE.read_bytes())
    searched = numbers_template.search
    assert searched is not None

    def central(request: httpx.Request) -> httpx.Response:
        asked = parse_request(request.content)
        answer = dataclasses.replace(numbers_template, file_id=asked.file_id)
        return httpx.Response(200, content=build_result(answer, "shift_jis"))

    fixed = datetime(2024, 4, 1, 0, 0, tzinfo=UTC)  # the samples' day: nothing reads today's
    client = CentralClient(
        "https://central.test", verify=False, transport=httpx.MockTransport(central)
    )
    out = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def ack(line: str) -> None:
        os.write(out, f"{line}\n".encode())

    store = Store(Path(db), FieldCipher(FieldKeys.load(Path(key))), clock=lambda: fixed)
    checks = ManualChecks(
        medical_institution_code=numbers_template.medical_institution_code,
        confirmations=Confirmations(transport=client, store=store, bus=EventBus()),
        store=store,
        clock=lambda: fixed,
    )
    typed = NumbersInput(
        searched.insurer_number,
        searched.symbol,
        searched.number,
        searched.branch,
        searched.birthdate,
    )
    last = 0
    for n in itertools.count():
        step = n % 4
        if step == 0:  # a card visit: the answer and its visit in one transaction
            file_id = secrets.token_hex(10)
            visit_id = secrets.token_hex(8)
            raw = build_result(dataclasses.replace(card_template, file_id=file_id))
            record = VisitRecord(visit_id, fixed, fixed, "drill", "pin", "done", file_id=file_id)
            stored = store.save_confirmation(
                file_id=file_id,
                raw_result=raw,
                result=parse_result(raw),
                kind="card",
                method="pin",
                actor="reader",
                visit=record,
            )
            last = stored.id
            ack(f"card {stored.id} {file_id} {visit_id}")
        elif step == 1:  # a manual numbers check, the whole device path
            stored = checks.check(typed, actor="uketsuke1")
            last = stored.id
            ack(f"numbers {stored.id} {stored.file_id}")
        elif step == 2:  # a visit that ended without an answer
            visit_id = secrets.token_hex(8)
            store.record_visit(
                VisitRecord(visit_id, fixed, fixed, "drill", "", "aborted", "card_removed")
            )
            ack(f"aborted {visit_id}")
        else:  # reception viewed the last answer: an audit entry only
            store.audit("uketsuke1", "confirmation.view", f"confirmation:{last}", f"n={n}")
            ack(f"view {last} n={n}")


def _writers() -> multiprocessing.context.ForkServerContext:
    """Writers forked from a server that imported the appliance once: a kill every few
    milliseconds instead of a Python start-up (a quarter second) per kill."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.drills.test_kill_writer"])
    return context


@dataclasses.dataclass
class Acks:
    """What the writers acknowledged, line by line."""

    confirmations: dict[int, tuple[str, str]] = dataclasses.field(default_factory=dict)
    done_visits: dict[str, str] = dataclasses.field(default_factory=dict)  # visit → file id
    aborted_visits: list[str] = dataclasses.field(default_factory=list)
    views: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.confirmations) + len(self.aborted_visits) + len(self.views)

    def add(self, line: str) -> None:
        kind, *rest = line.split(" ")
        if kind == "card":
            self.confirmations[int(rest[0])] = ("card", rest[1])
            self.done_visits[rest[2]] = rest[1]
        elif kind == "numbers":
            self.confirmations[int(rest[0])] = ("numbers", rest[1])
        elif kind == "aborted":
            self.aborted_visits.append(rest[0])
        elif kind == "view":
            self.views.append((int(rest[0]), rest[1]))
        else:
            raise AssertionError(f"unexpected line from the writer: {line!r}")


def _check(db: Path, key: Path, acks: Acks) -> int:
    """Reopen the file as the appliance would and check what was acknowledged; the number of
    audit entries."""
    store = Store(db, FieldCipher(FieldKeys.load(key)))
    try:
        for row_id, (kind, file_id) in acks.confirmations.items():
            found = store.confirmation(row_id)  # decrypts: DecryptError if unreadable
            assert found is not None, f"acknowledged confirmation {row_id} lost"
            assert (found.file_id, found.kind) == (file_id, kind)
            assert found.result.file_id == file_id and found.result.results[0].name_kana
        for visit_id, file_id in acks.done_visits.items():
            visit = store.visit(visit_id)
            assert visit is not None and (visit.state, visit.file_id) == ("done", file_id)
        for visit_id in acks.aborted_visits:
            visit = store.visit(visit_id)
            assert visit is not None and visit.state == "aborted", visit_id
        for row_id, detail in acks.views:
            seen = store.audit_search(
                action="confirmation.view", subject_prefix=f"confirmation:{row_id}"
            )
            assert any(e.detail == detail for e in seen), f"acknowledged view {detail} lost"
        verdict = store.verify_audit_detail()
        assert verdict.ok, verdict
    finally:
        store.close()
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        # Nothing half-written: every stored answer has its audit entry, every card answer
        # its visit (one transaction each).
        unaudited = raw.execute(
            "SELECT COUNT(*) FROM confirmations WHERE 'confirmation:' || id NOT IN"
            " (SELECT subject FROM audit WHERE action = 'confirmation.stored')"
        ).fetchone()[0]
        orphaned = raw.execute(
            "SELECT COUNT(*) FROM confirmations WHERE visit_id IS NOT NULL"
            " AND visit_id NOT IN (SELECT id FROM visits)"
        ).fetchone()[0]
        assert (unaudited, orphaned) == (0, 0)
        return int(raw.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
    finally:
        raw.close()


def _wait_for_acks(path: Path, count: int, child: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while (path.read_bytes().count(b"\n") if path.exists() else 0) < count:
        assert child.is_alive(), f"the writer ended on its own: {child.exitcode}"
        assert time.monotonic() < deadline, f"the writer made no progress ({count} saves)"
        time.sleep(0.001)


def _kill_series(
    folder: Path, seed: int, kills: int, writers: multiprocessing.context.ForkServerContext
) -> tuple[Acks, int, int, int]:
    """`kills` writers on one file, from empty; (acks, audit entries, answers saved but not
    acknowledged, kills before the first acknowledgement)."""
    folder.mkdir()
    db, key = folder / "onshi.db", folder / "field.key"
    # The key exists before the first writer, as once the appliance is set up: this drill
    # kills writers of the database, not the one-time creation of the key file.
    FieldKeys.create(key)
    rng = random.Random(seed)
    acks = Acks()
    before_first = 0
    for n in range(kills):
        acked = folder / f"acks-{n}.txt"
        child = writers.Process(target=write_until_killed, args=(str(db), str(key), str(acked)))
        child.start()
        if rng.random() < EARLY_SHARE:  # while it starts, opens, recovers the WAL, migrates
            time.sleep(rng.uniform(0, EARLY_WINDOW_S))
        else:  # after a number of saves, somewhere in the next one
            _wait_for_acks(acked, rng.randint(0, MAX_SAVES_BEFORE_KILL), child)
            time.sleep(rng.uniform(0, SAVE_WINDOW_S))
        child.kill()  # SIGKILL
        child.join(EXIT_TIMEOUT_S)
        assert child.exitcode == -signal.SIGKILL, f"the writer ended on its own: {child.exitcode}"
        child.close()
        text = acked.read_text() if acked.exists() else ""
        lines = text.split("\n")[:-1]  # a line cut off by the kill was never acknowledged
        before_first += not lines
        this_kill = Acks()
        for line in lines:
            this_kill.add(line)
            acks.add(line)
        _check(db, key, this_kill)
    entries = _check(db, key, acks)  # and once more, everything from the first kill on
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    stored = int(raw.execute("SELECT COUNT(*) FROM confirmations").fetchone()[0])
    raw.close()
    return acks, entries, stored - len(acks.confirmations), before_first


def test_sigkill_at_random_moments_loses_nothing_acknowledged(
    tmp_path: Path, drill_budget: int, figure: Callable[[str], None]
) -> None:
    writers = _writers()
    started = time.monotonic()
    # The large budget runs more series, each from an empty file (so migrations get killed
    # too) rather than one long series whose every reopen re-verifies a longer chain.
    totals = [0, 0, 0, 0, 0, 0]  # saves, answers, aborted visits, views, unacked, before
    entries = 0
    kills = KILLS if drill_budget > 1 else KILLS_SUITE
    for series in range(drill_budget):
        acks, audited, unacknowledged, before_first = _kill_series(
            tmp_path / f"series-{series}", SEED + series, kills, writers
        )
        entries += audited
        for i, value in enumerate(
            (
                acks.total,
                len(acks.confirmations),
                len(acks.aborted_visits),
                len(acks.views),
                unacknowledged,
                before_first,
            )
        ):
            totals[i] += value
    saves, answers, aborted, views, unacknowledged, before_first = totals
    figure(
        f"{kills * drill_budget} kills, {saves:,} acknowledged saves ({answers:,} answers,"
        f" {aborted:,} aborted visits, {views:,} audit-only), 0 lost, integrity ok,"
        f" audit verifies ({entries:,} entries); {unacknowledged} saved but killed before"
        f" the acknowledgement, {before_first} kills before the first save;"
        f" {time.monotonic() - started:.0f} s"
    )
