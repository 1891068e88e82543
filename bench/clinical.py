"""The doctor's view: how long opening drug or checkup history takes, online and from the cache.

The simulated central runs in its own process over mutual TLS; a PIN-verified card request
(signed with the synthetic card's key, as the card would) gives consent to both kinds first.
Online = consent check + YZK/TKK request + parse + encrypted cache write + audit entry;
cached = consent check + decrypt + parse + audit entry.
"""

from __future__ import annotations

import argparse
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.visits import ms_summary
from bench.world import device_client, fresh_data, start_central, stop_central
from device.clinical import ClinicalRecords
from device.demo import wait_for_central
from sim.pki import pki_paths
from sync.breaker import CircuitBreaker
from sync.central import CentralClient
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store
from sync.xmlmsg import CardAuthentication, ConsentAnswer, QualificationRequest

CENTRAL_PORT = 18444
MIC = "1312345670"
PERSON = "P004"  # three chronic conditions and five yearly checkups in the simulator


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.clinical")
    parser.add_argument("--opens", type=int, default=30)
    args = parser.parse_args(argv)
    data = fresh_data("onshi-bench-clinical-")
    pki = data / "pki"
    central_process = start_central(data, CENTRAL_PORT)
    central = device_client(data, CENTRAL_PORT)
    key = data / "bench.key"  # a fresh directory: the key is made with the database
    keys = FieldKeys.load(key) if key.exists() else FieldKeys.create(key)
    store = Store(data / "bench.db", FieldCipher(keys))
    try:
        wait_for_central(central)
        confirmation_id = consenting_visit(central, store, pki)
        records = ClinicalRecords(store, central, MIC, breaker=CircuitBreaker(central))
        far_future = datetime.now(UTC) + timedelta(days=2)
        for kind in ("drug", "checkup"):
            online, cached, size = [], [], 0
            for _ in range(args.opens):
                store.purge_clinical_cache(far_future)  # the next open must ask the central
                t0 = time.perf_counter()
                record = records.open(confirmation_id, kind, user="bench")
                online.append(time.perf_counter() - t0)
                assert not record.from_cache
                t0 = time.perf_counter()
                assert records.open(confirmation_id, kind, user="bench").from_cache
                cached.append(time.perf_counter() - t0)
            cache = store.clinical_cache(confirmation_id, kind, datetime.now(UTC))
            size = len(cache.data) if cache else 0
            count = (
                f"{len(record.result.months)} months"
                if kind == "drug"
                else f"{len(record.result.exams)} exams"
            )
            print(f"doctor's view, {kind} ({count}, answer {size / 1024:.0f} KiB):")
            print(f"  online (central over mTLS)   {ms_summary(online)}")
            print(f"  from the encrypted cache     {ms_summary(cached)}")
        print(f"  central round trip (last)      {central.last_round_trip_s or 0:.4f} s")
        print()
    finally:
        central.close()
        store.close()
        stop_central(central_process)


def consenting_visit(central: CentralClient, store: Store, pki: Path) -> int:
    """A PIN-verified card visit that agrees to both kinds; the stored confirmation's id."""
    file_id = secrets.token_hex(10)
    nonce = central.nonce()
    paths = pki_paths(pki)
    signature = paths.card_signature(PERSON, nonce, MIC, file_id)
    certificate = paths.card_cert(PERSON).read_bytes()
    now = datetime.now(JST)
    consents = tuple(
        ConsentAnswer(kind, True, now.strftime("%Y%m%d%H%M%S")) for kind in ("drug", "checkup")
    )
    answer = central.confirm(
        QualificationRequest(
            MIC,
            now.strftime("%Y%m%d"),
            file_id,
            "1",
            card=CardAuthentication(certificate, nonce, signature, "pin"),
            consents=consents,
        )
    )
    stored = store.save_confirmation(
        file_id=file_id,
        raw_result=answer.raw,
        result=answer.result,
        kind="card",
        method="pin",
        actor="bench",
    )
    return stored.id
