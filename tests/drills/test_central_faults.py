"""Drill: the central service misbehaves in every way we know of, over real sockets (and real
TLS where the fault is about TLS). Each check typed at reception must end within the call's
deadline, with the category staff need (try later / refused / unreadable / configuration),
read no more than the size cap, and store nothing.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.checks import CheckFailed, ManualChecks, NumbersInput
from device.confirm import Confirmations
from device.events import EventBus
from device.flow import EndReason
from sync.central import CentralClient, tls_context
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from tests.faulty_central import FAULTS, FaultyCentral, OtherCa, other_ca_server_cert

DEADLINE_S = 2.0
# Scheduling noise on a busy machine, not part of the claim: the figure reports the real times.
SLACK_S = 2.0
# Far below the 100 MB a fault sends: the answer was refused before it was read (or inflated).
MEMORY_LIMIT_BYTES = 16 * 1024 * 1024

EXPECTED: dict[str, EndReason] = {
    "closed_port": EndReason.CENTRAL_UNAVAILABLE,
    "silent": EndReason.CENTRAL_UNAVAILABLE,
    "wrong_ca": EndReason.CENTRAL_UNTRUSTED,
    "http_500": EndReason.CENTRAL_UNAVAILABLE,
    "garbage": EndReason.CENTRAL_UNREADABLE,
    "trickle": EndReason.CENTRAL_UNAVAILABLE,  # no whole answer by the deadline
    "gzip_bomb": EndReason.CENTRAL_UNREADABLE,
    "huge": EndReason.CENTRAL_UNREADABLE,
}
assert set(EXPECTED) == set(FAULTS)

TYPED = NumbersInput("06139018", "12", "345", "", "1980-04-01")


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> OtherCa:
    return other_ca_server_cert(tmp_path_factory.mktemp("other-ca"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.create(tmp_path / "k")))
    yield s
    s.close()


def run_fault(fault: str, pki: Any, other_ca: OtherCa, store: Store) -> tuple[float, str, int]:
    """One check against the fault: (seconds it took, its reason, peak bytes allocated)."""
    with FaultyCentral(fault, pki, other_ca) as central:
        client = CentralClient(
            central.url,
            verify=tls_context(pki.central_ca_cert, pki.device_cert, pki.device_key),
            timeout_s=1.0,
            deadline_s=DEADLINE_S,
            retries=2,
        )
        checks = ManualChecks(
            medical_institution_code="1312345670",
            confirmations=Confirmations(transport=client, store=store, bus=EventBus()),
            store=store,
        )
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(CheckFailed) as failed:
                checks.check(TYPED, actor="drill")
            took = time.monotonic() - started
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            client.close()
        return took, failed.value.reason, peak


def test_central_faults_end_by_the_deadline_with_their_reason_and_store_nothing(
    sim_pki: Any,
    other_ca: OtherCa,
    store: Store,
    drill_budget: int,
    figure: Callable[[str], None],
) -> None:
    worst: dict[str, float] = {}
    held = 0
    for _round in range(drill_budget):
        for fault in FAULTS:
            took, reason, peak = run_fault(fault, sim_pki, other_ca, store)
            assert reason == EXPECTED[fault], f"{fault}: {reason}"
            assert took <= DEADLINE_S + SLACK_S, f"{fault} took {took:.2f} s"
            assert peak < MEMORY_LIMIT_BYTES, f"{fault} held {peak} bytes"
            worst[fault] = max(worst.get(fault, 0.0), took)
            held = max(held, peak)
    # Nothing stored, nothing half-written: no answer, no visit, no audit of an answer.
    assert store.count_confirmations() == 0
    assert store.count_visits() == 0
    assert not [e for e in store.audit_entries() if e.action.startswith("confirmation")]
    times = ", ".join(f"{f} {t:.2f} s" for f, t in worst.items())
    figure(
        f"{len(FAULTS)} faults × {drill_budget}, each ended in ≤ {max(worst.values()):.2f} s "
        f"(deadline {DEADLINE_S:g} s), 0 rows stored, at most {held / 2**20:.1f} MB held "
        f"for a 100 MB answer; {times}"
    )
