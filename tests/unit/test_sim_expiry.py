"""The simulated central follows the 2025 card-certificate rules (sync/cardexpiry.py): within
grace an expired certificate still confirms qualification but consent is refused; past grace it
is refused (EC03). The PKI is built at a fixed instant and the service's clock is moved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from cryptography import x509

from sim.central.service import CentralService
from sync.cardexpiry import expiry_date, grace_until
from sync.clock import JST
from sync.codes import is_insured
from sync.xmlmsg import ConsentAnswer

from .test_sim_medical import CONSENTED, NOW, Clock, _agreed, _ask, _request, _visit


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def pki(pki_at: Any) -> Any:
    """The test PKI as issued at NOW, so its cards mean to the service what they say."""
    return pki_at(NOW)


@pytest.fixture
def service(pki: Any, clock: Clock) -> Iterator[CentralService]:
    yield CentralService(pki, clock=clock)


EVERYTHING = (_agreed("drug"), _agreed("checkup"))


def test_a_certificate_near_expiry_works_with_consent(service: CentralService, pki: Any) -> None:
    result = _visit(service, pki, "P049", EVERYTHING, method="pin")
    assert is_insured(result)
    assert [c.flag for c in result.results[0].consents] == ["1", "1"]
    assert _ask(service, _request("P049", "drug")).error_code == ""


def test_within_grace_qualification_is_confirmed_and_consent_refused(
    service: CentralService, pki: Any
) -> None:
    result = _visit(service, pki, "P050", EVERYTHING, method="pin")
    assert is_insured(result)
    assert result.results[0].consents == ()  # nothing registered
    assert _ask(service, _request("P050", "drug")).error_code == "EK01"  # nothing shared


def test_past_grace_the_certificate_is_refused(
    service: CentralService, pki: Any, clock: Clock
) -> None:
    assert _visit(service, pki, "P019").error_code == "EC03"
    # P050's certificate lapsed within grace of NOW; its grace runs to the end of the third
    # month after the month it lapsed in (read from the certificate: the PKI may reuse one
    # made on another day that means the same at NOW).
    not_after = x509.load_der_x509_certificate(
        pki.card_cert("P050").read_bytes()
    ).not_valid_after_utc
    expired_on = expiry_date(not_after)
    last = grace_until(expired_on)
    assert expired_on < NOW.astimezone(JST).date() <= last
    assert last.month == (expired_on.month + 2) % 12 + 1  # the end of the third month after
    clock.now = datetime.combine(last + timedelta(days=1), time(0, 0), JST)
    assert _visit(service, pki, "P050").error_code == "EC03"
    clock.now = datetime.combine(last, time(23, 59), JST)
    assert is_insured(_visit(service, pki, "P050", (ConsentAnswer("drug", True, CONSENTED),)))
