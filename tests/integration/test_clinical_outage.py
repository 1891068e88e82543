"""The doctor's view while the central is down, through the real stack: the appliance's own
client builder and breaker over mutual TLS to the simulated central (behind a relay that is
switched off), a real Store file, the simulator's consent rules.

The view that finds the central gone learns it within the connect deadline and counts toward
opening the shared circuit; once it is open a view without a cached copy is refused without
touching the network, one with a cached copy is shown from it; a refusal by the central (no
consent on its side) never opens the circuit; after the central is back one view closes it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from device.clinical import ClinicalRecords, ClinicalRefused
from device.config import load_config
from device.events import EventBus
from device.parts import central_breaker, connect_central
from device.reachability import CentralReachability
from sync.breaker import BreakerState
from sync.central import CentralClient, MedicalInfoAnswer
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.medinfo import MedicalInfoRequest
from sync.store import Store
from sync.xmlmsg import ConsentAnswer, build_result, parse_result
from tests.central_relay import CentralRelay
from web.clinical import refusal_words

from .test_clinical import MIC, PERSON, Clock, card_visit
from .test_clinical import central as central  # noqa: F401  (the direct client fixture)
from .test_outage import Monotonic


class CountingMedinfo:
    """The appliance's client, counting the history requests that reach it (below the breaker)."""

    def __init__(self, inner: CentralClient) -> None:
        self.inner = inner
        self.calls = 0

    def medical_info(self, request: MedicalInfoRequest) -> MedicalInfoAnswer:
        self.calls += 1
        return self.inner.medical_info(request)


def test_views_through_the_breaker_while_the_central_is_down(
    central: CentralClient, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    relay = CentralRelay(int(central_server.url.rsplit(":", 1)[1]))
    relay.start()
    config = load_config(
        environ={},
        overrides={
            "data_dir": tmp_path,
            "central_url": relay.url,
            "central_ca": sim_pki.central_ca_cert,
            "device_cert": sim_pki.device_cert,
            "device_key": sim_pki.device_key,
            "central_breaker_failures": 2,
            "central_breaker_open_s": 30,
        },
    )
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    client = connect_central(config)
    try:
        wire = CountingMedinfo(client)
        reach = CentralReachability(EventBus())
        monotonic = Monotonic()
        breaker = central_breaker(config, client, reach.on_change, monotonic)
        clock = Clock()
        records = ClinicalRecords(store, wire, MIC, clock=clock, breaker=breaker)

        consented = clock.now.astimezone(JST).strftime("%Y%m%d%H%M%S")
        agreed = (ConsentAnswer("drug", True, consented), ConsentAnswer("checkup", True, consented))
        file_id, raw = card_visit(central, sim_pki, PERSON, agreed)
        cid = store.save_confirmation(
            file_id=file_id,
            raw_result=raw,
            result=parse_result(raw),
            kind="card",
            method="pin",
            actor="reader",
        ).id
        assert not records.open(cid, "drug", user="doctor").from_cache  # online, now cached
        assert wire.calls == 1

        relay.stop()  # the line to the central is gone
        for _ in range(config.central_breaker_failures):
            started = time.perf_counter()
            with pytest.raises(ClinicalRefused) as failed:
                records.open(cid, "checkup", user="doctor")
            seconds = time.perf_counter() - started
            assert failed.value.reason == "unavailable" and not failed.value.circuit_open
            assert seconds < config.central_deadline_s  # learnt by the connect deadline
            print(f"central stopped: the view learnt it in {seconds * 1000:.0f} ms")
        assert breaker.state is BreakerState.OPEN  # the views' failures opened it
        assert reach.current().down
        asked = wire.calls

        started = time.perf_counter()
        with pytest.raises(ClinicalRefused) as at_once:
            records.open(cid, "checkup", user="doctor")
        seconds = time.perf_counter() - started
        assert at_once.value.reason == "unavailable" and at_once.value.circuit_open
        assert wire.calls == asked  # nothing went out
        print(f"circuit open: the view was refused in {seconds * 1000:.1f} ms without the network")
        words = refusal_words(at_once.value, down_since=reach.current().down_since)
        assert "から）" in words.ja and "もう一度開く" in words.ja

        cached = records.open(cid, "drug", user="doctor")  # the copy fetched before the outage
        assert cached.from_cache and wire.calls == asked

        relay.start()
        monotonic.offset += config.central_breaker_open_s  # the open interval is over
        back = records.open(cid, "checkup", user="doctor")  # the probe
        assert not back.from_cache and back.result.segment_of_result == "1"
        assert breaker.state is BreakerState.CLOSED and not reach.current().down
    finally:
        relay.stop()
        client.close()
        store.close()


def test_a_refusal_by_the_central_never_opens_the_circuit(
    central: CentralClient, sim_pki: Any, tmp_path: Path
) -> None:
    """Checkups shown as agreed here but refused on the central's side (as in test_clinical)."""
    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.generate()))
    try:
        reach = CentralReachability(EventBus())
        config = load_config(environ={}, overrides={"central_breaker_failures": 1})
        breaker = central_breaker(config, central, reach.on_change)
        clock = Clock()
        consented = clock.now.astimezone(JST).strftime("%Y%m%d%H%M%S")
        file_id, raw = card_visit(
            central, sim_pki, PERSON, (ConsentAnswer("checkup", False, consented),)
        )
        result = parse_result(raw)
        (q,) = result.results
        (checkup,) = q.consents
        until = (clock.now + timedelta(hours=24)).astimezone(JST).strftime("%Y%m%d%H%M%S")
        altered = replace(checkup, flag="1", available_time=until)
        local = replace(result, results=(replace(q, consents=(altered,)),))
        cid = store.save_confirmation(
            file_id=file_id,
            raw_result=build_result(local),
            result=parse_result(build_result(local)),
            kind="card",
            method="pin",
            actor="reader",
        ).id
        records = ClinicalRecords(store, central, MIC, clock=clock, breaker=breaker)
        for _ in range(3):
            with pytest.raises(ClinicalRefused) as refused:
                records.open(cid, "checkup", user="doctor")
            assert refused.value.reason == "central"
        assert breaker.state is BreakerState.CLOSED and breaker.failures == 0
        assert not reach.current().down
    finally:
        store.close()
