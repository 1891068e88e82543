"""Drill: SIGKILL a process draining the re-check queue at random moments; every queued item
is answered exactly once.

The parent queues requests in a real store (SQLite file, WAL, field keys from a key file), as
checks typed while the central was unavailable would have been. A child process opens the
store and drains the queue through device/outbox.py and the one confirmation path, against a
central that answers from the samples (and notes each request it is asked). The parent kills
it with SIGKILL after a random number of requests, a random moment into the next (between
asking and storing, between storing and marking the item, mid-commit), reopens the file and
checks it: `PRAGMA integrity_check` ok, the audit chain verifies, at most one answer per file
identifier, every answered item's answer stored under its file identifier. Once the kills
are done, a last drain finishes the queue: every item answered exactly once (one answer, one
`outbox.answered` or `outbox.recovered` entry), nothing stored that was not queued.
"""

from __future__ import annotations

import dataclasses
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

from device.confirm import Confirmations
from device.events import EventBus
from device.outbox import Outbox
from sync.central import CentralClient
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import QualificationRequest, build_result, parse_request, parse_result

ROOT = Path(__file__).resolve().parents[2]
NUMBERS_SAMPLE = ROOT / "tests" / "unit" / "samples" / "OQSsiquc01res_20240401090000001.xml"
SEED = 10
KILLS_PER_BUDGET = 5  # 5 in the suite, 50 with --drill-budget large
ITEMS_PER_KILL = 4
MAX_ASKS_BEFORE_KILL = 4
ASK_WINDOW_S = 0.01
EXIT_TIMEOUT_S = 30.0
FIXED = datetime(2024, 4, 1, 0, 0, tzinfo=UTC)  # the sample's day: nothing reads today's


def _template() -> tuple[QualificationRequest, bytes]:
    template = parse_result(NUMBERS_SAMPLE.read_bytes())
    assert template.search is not None
    request = QualificationRequest(
        template.medical_institution_code,
        template.confirmation_date,
        "x",
        "2",
        search=template.search,
    )
    return request, NUMBERS_SAMPLE.read_bytes()


def drain_until_killed(db: str, key: str, asked: str) -> None:
    """The child: drain the queue until it is empty, then wait to be killed. Each request the
    central is asked is noted (one line, os.write) before it is answered."""
    template = parse_result(NUMBERS_SAMPLE.read_bytes())
    out = os.open(asked, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def central(request: httpx.Request) -> httpx.Response:
        file_id = parse_request(request.content).file_id
        os.write(out, f"{file_id}\n".encode())
        answer = dataclasses.replace(template, file_id=file_id)
        return httpx.Response(200, content=build_result(answer, "shift_jis"))

    client = CentralClient(
        "https://central.test", verify=False, transport=httpx.MockTransport(central)
    )
    store = Store(Path(db), FieldCipher(FieldKeys.load(Path(key))), clock=lambda: FIXED)
    outbox = Outbox(
        store=store,
        confirmations=Confirmations(transport=client, store=store, bus=EventBus()),
        rate_per_s=1000,
        clock=lambda: FIXED,
    )
    while outbox.drain().answered:
        pass
    os.write(out, b"done\n")
    while True:
        time.sleep(1)


def _drainers() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.drills.test_kill_drain"])
    return context


def _lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def _wait_for_asks(path: Path, count: int, child: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while len(_lines(path)) < count:
        if "done" in _lines(path):
            return
        assert child.is_alive(), f"the drain ended on its own: {child.exitcode}"
        assert time.monotonic() < deadline, "the drain made no progress"
        time.sleep(0.001)


def _check(db: Path, key: Path, queued: set[str]) -> tuple[int, int]:
    """The file after a kill; (answered items, queued items)."""
    store = Store(db, FieldCipher(FieldKeys.load(key)))
    try:
        verdict = store.verify_audit_detail()
        assert verdict.ok, verdict
        items = store.outbox_items(limit=len(queued) + 10)
        assert {i.file_id for i in items} == queued
        answered = 0
        for item in items:
            assert item.state in ("queued", "answered"), item
            if item.state == "answered":
                answered += 1
                assert item.answer_id is not None
                found = store.confirmation(item.answer_id)
                assert found is not None and found.file_id == item.file_id
                assert found.result.file_id == item.file_id
    finally:
        store.close()
    raw = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = [r[0] for r in raw.execute("SELECT file_id FROM confirmations")]
        assert len(stored) == len(set(stored)) and set(stored) <= queued
        unaudited = raw.execute(
            "SELECT COUNT(*) FROM confirmations WHERE 'confirmation:' || id NOT IN"
            " (SELECT subject FROM audit WHERE action = 'confirmation.stored')"
        ).fetchone()[0]
        assert unaudited == 0
    finally:
        raw.close()
    return answered, len(items) - answered


def test_sigkill_while_draining_answers_every_item_exactly_once(
    tmp_path: Path, drill_budget: int, figure: Callable[[str], None]
) -> None:
    kills = KILLS_PER_BUDGET * drill_budget
    db, key = tmp_path / "onshi.db", tmp_path / "field.key"
    FieldKeys.create(key)
    template, _raw = _template()
    queued: set[str] = set()
    store = Store(db, FieldCipher(FieldKeys.load(key)), clock=lambda: FIXED)
    for _ in range(kills * ITEMS_PER_KILL):
        file_id = secrets.token_hex(10)
        request = dataclasses.replace(template, file_id=file_id)
        assert store.enqueue_recheck(request, kind="numbers", method="numbers", actor="uketsuke")
        queued.add(file_id)
    store.close()

    drainers = _drainers()
    rng = random.Random(SEED)
    started = time.monotonic()
    asks = 0
    for n in range(kills):
        asked = tmp_path / f"asked-{n}.txt"
        child = drainers.Process(target=drain_until_killed, args=(str(db), str(key), str(asked)))
        child.start()
        _wait_for_asks(asked, rng.randint(0, MAX_ASKS_BEFORE_KILL), child)
        time.sleep(rng.uniform(0, ASK_WINDOW_S))
        child.kill()  # SIGKILL
        child.join(EXIT_TIMEOUT_S)
        assert child.exitcode == -signal.SIGKILL, f"the drain ended on its own: {child.exitcode}"
        child.close()
        asks += len([line for line in _lines(asked) if line != "done"])
        _check(db, key, queued)

    # The last drain, not killed: the queue empties.
    asked = tmp_path / "asked-last.txt"
    child = drainers.Process(target=drain_until_killed, args=(str(db), str(key), str(asked)))
    child.start()
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while "done" not in _lines(asked):
        assert child.is_alive() and time.monotonic() < deadline, "the last drain did not finish"
        time.sleep(0.005)
    child.kill()
    child.join(EXIT_TIMEOUT_S)
    child.close()
    asks += len(_lines(asked)) - 1
    answered, waiting = _check(db, key, queued)
    assert (answered, waiting) == (len(queued), 0)
    store = Store(db, FieldCipher(FieldKeys.load(key)))
    try:
        marks = [
            e.subject
            for e in store.audit_entries(limit=100_000)
            if e.action in ("outbox.answered", "outbox.recovered")
        ]
        recovered = len(
            [e for e in store.audit_entries(limit=100_000) if e.action == "outbox.recovered"]
        )
        assert sorted(marks) == sorted(f"outbox:{i.id}" for i in store.outbox_items(len(queued)))
        assert store.count_confirmations() == len(queued)
    finally:
        store.close()
    figure(
        f"{kills} kills while draining {len(queued)} queued re-checks: each answered exactly"
        f" once ({asks} requests sent, {asks - len(queued)} asked again after a kill,"
        f" {recovered} found stored and only marked), integrity ok, audit verifies;"
        f" {time.monotonic() - started:.0f} s"
    )
