"""A clinic whose wall clock can be set anywhere: days of card visits and typed checks, the
retention and clock jobs, restarts. Shared by the retention unit tests and the clock-jump drill.

Everything runs on a true time the test controls; the appliance sees only its wall clock (true
time + skew), a monotonic clock and, while it is up, the central's clock (the true time).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from device.checks import ManualChecks, NumbersInput
from device.clocktrust import ClockTrust
from device.confirm import Confirmations
from device.events import EventBus
from device.jobs import JOBS, Jobs
from device.services import Services
from sync.central import CentralAnswer, CentralClient, CentralUnavailable
from sync.clock import JST
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store, VisitRecord
from sync.xmlmsg import (
    ConsentState,
    Qualification,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_result,
    parse_result,
)

KYOKAI = "01130012"  # 0113001 + check digit 2
DAY = timedelta(days=1)


@dataclass
class RetentionConfig:
    retention_days: int = 31
    retention_max_share: float = 0.25


class Central:
    """The central: its clock is the true time; answers every numbers search as one person."""

    def __init__(self, world: ClinicClock) -> None:
        self._world = world
        self.care_dates: list[tuple[str, str]] = []  # (sent, the true date in Japan)

    def server_time(self) -> datetime:
        if not self._world.central_up:
            raise CentralUnavailable("中央サービスに接続できません / central service unreachable")
        return self._world.true

    def confirm(self, request: QualificationRequest) -> CentralAnswer:
        if not self._world.central_up:
            raise CentralUnavailable("中央サービスに接続できません / central service unreachable")
        self.care_dates.append(
            (request.confirmation_date, self._world.true.astimezone(JST).strftime("%Y%m%d"))
        )
        s = request.search
        assert s is not None
        result = answer(request.file_id, request.confirmation_date, s.number, ())
        return CentralAnswer(result, build_result(result), 0.01)


def answer(
    file_id: str, care_date: str, number: str, consents: tuple[ConsentState, ...]
) -> QualificationResult:
    return QualificationResult(
        process_time=care_date + "093000",
        confirmation_date=care_date,
        medical_institution_code="1312345670",
        file_id=file_id,
        reference_classification="2",
        segment_of_result="1",
        processing_status="1",
        validity="1",
        search=SearchInfo(KYOKAI, number, "19830807", symbol="40199901"),
        results=(
            Qualification(
                insurer_number=KYOKAI,
                symbol="40199901",
                number=number,
                name="井上　健一",
                name_kana="イノウエ　ケンイチ",
                birthdate="19830807",
                contribution_ratio="030",
                consents=consents,
            ),
        ),
    )


@dataclass
class ClinicClock:
    true: datetime
    skew: timedelta = timedelta(0)  # wall minus true
    mono: float = 10_000.0
    synced: bool | None = True
    central_up: bool = True

    def wall(self) -> datetime:
        return self.true + self.skew

    def monotonic(self) -> float:
        return self.mono

    def elapse(self, delta: timedelta) -> None:
        self.true += delta
        self.mono += delta.total_seconds()


@dataclass
class Made:
    """What the clinic stored, by the true time it happened."""

    confirmations: dict[int, datetime] = field(default_factory=dict)
    visits: dict[str, datetime] = field(default_factory=dict)


class Clinic:
    def __init__(self, path: Path, start: datetime, config: RetentionConfig | None = None) -> None:
        self.clock = ClinicClock(start)
        self.central = Central(self.clock)
        self.config = config or RetentionConfig()
        self.made = Made()
        self.bus = EventBus()
        self.trust = self._trust()
        # The store and the checks read the clock through the clinic, so a restart (a new
        # ClockTrust, as after a reboot) reaches them.
        self.store = Store(path, FieldCipher(FieldKeys.generate()), clock=lambda: self.trust.now())
        self.checks = ManualChecks(
            medical_institution_code="1312345670",
            confirmations=Confirmations(
                transport=cast(CentralClient, self.central), store=self.store, bus=self.bus
            ),
            store=self.store,
            clock=lambda: self.trust.care_now(),
        )
        self.jobs = self._jobs()

    def _trust(self) -> ClockTrust:
        return ClockTrust(
            tolerance_s=30,
            wall=self.clock.wall,
            monotonic=self.clock.monotonic,
            synchronised=lambda: self.clock.synced,
            central_time=self.central.server_time,
        )

    def _jobs(self) -> Jobs:
        services = cast(Services, _Bag(store=self.store, config=self.config))
        return Jobs(services, self.trust, JOBS)

    def restart(self) -> None:
        """A reboot: what the appliance knew of the clock in memory is gone."""
        self.trust = self._trust()
        self.jobs = self._jobs()

    def close(self) -> None:
        self.store.close()

    # -- a clinic day -------------------------------------------------------------------------
    def card_visit(self) -> int:
        """A card visit that agreed to share drug information, stamped as the flow does."""
        now = self.trust.now()
        file_id = secrets.token_hex(10)
        consent = ConsentState("drug", "1", now.astimezone(JST).strftime("%Y%m%d%H%M%S"))
        result = answer(file_id, now.astimezone(JST).strftime("%Y%m%d"), "11", (consent,))
        visit = VisitRecord(secrets.token_hex(8), now, now, "r", "pin", "done", file_id=file_id)
        stored = self.store.save_confirmation(
            file_id=file_id,
            raw_result=build_result(result),
            result=parse_result(build_result(result)),
            kind="card",
            method="pin",
            actor="reader",
            visit=visit,
        )
        self.made.confirmations[stored.id] = self.clock.true
        self.made.visits[visit.id] = self.clock.true
        return stored.id

    def numbers_check(self) -> int:
        typed = NumbersInput(KYOKAI, "40199901", "11", "", "19830807")
        stored = self.checks.check(typed, actor="reception")
        self.made.confirmations[stored.id] = self.clock.true
        return stored.id

    def day(self, visits: int) -> None:
        """Morning: the clock job and the daily purge; then the day's visits and checks."""
        self.jobs.run_now("check_clock")
        self.jobs.run_now("purge_confirmations")
        if self.clock.central_up:
            for n in range(visits):
                self.card_visit() if n % 2 == 0 else self.numbers_check()
                self.clock.elapse(timedelta(minutes=5))
        self.clock.elapse(DAY - timedelta(minutes=5 * visits if self.clock.central_up else 0))

    # -- what is left -------------------------------------------------------------------------
    def should_stay(self) -> tuple[set[int], set[str]]:
        """Rows younger than retention_days by the true time."""
        bound = self.clock.true - timedelta(days=self.config.retention_days)
        return (
            {i for i, at in self.made.confirmations.items() if at >= bound},
            {v for v, at in self.made.visits.items() if at >= bound},
        )

    def kept(self, confirmations: set[int], visits: set[str]) -> int:
        return sum(self.store.confirmation(i) is not None for i in confirmations) + sum(
            self.store.visit(v) is not None for v in visits
        )

    def audit_actions(self) -> list[str]:
        return [e.action for e in reversed(self.store.audit_entries(100_000))]


class _Bag:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)
