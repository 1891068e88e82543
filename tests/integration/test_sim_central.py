"""The simulated central service over real mutual TLS (cheroot + httpx).

`sim_pki` is the session PKI from tests/conftest.py (device certificate CN 1312345670).
"""

from __future__ import annotations

import base64
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sim.central.server import CentralServer
from sim.pki import PkiPaths
from sim.population import person
from sync.central import CentralClient, tls_context
from sync.challenge import signed_payload
from sync.clock import JST
from sync.codes import is_insured
from sync.medinfo import MedicalInfoRequest, build_medinfo_request, parse_medinfo_result
from sync.xmlmsg import (
    CardAuthentication,
    ConsentAnswer,
    QualificationRequest,
    QualificationResult,
    SearchInfo,
    build_request,
    parse_result,
)

MIC = "1312345670"
DATE = "20260401"
XML = {"content-type": "application/xml"}


@pytest.fixture(scope="module")
def server(sim_pki: PkiPaths) -> Iterator[CentralServer]:
    # Its own server (not the shared one): these tests inject outages and failures.
    with CentralServer(sim_pki) as running:
        yield running


@pytest.fixture
def central(server: CentralServer) -> Iterator[CentralServer]:
    """The running server, with any fault injection undone after the test."""
    service = server.service
    yield server
    service.outage(False)
    service.latency_s = 0.0
    service.encoding = "utf-8"
    service.nonce_ttl_s = 120.0


def tls(pki: PkiPaths, cert: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.central_ca_cert))
    if cert:
        context.load_cert_chain(pki.device_cert, pki.device_key)
    return context


@pytest.fixture
def client(central: CentralServer, sim_pki: PkiPaths) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=central.url, verify=tls(sim_pki), timeout=10) as c:
        yield c


def new_file_id() -> str:
    return "T" + secrets.token_hex(8)


def nonce(client: httpx.Client) -> bytes:
    r = client.post("/v1/nonce")
    assert r.status_code == 200
    return base64.b64decode(r.json()["nonce"])


def private_key(path_bytes: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path_bytes, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def card_request(
    pki: PkiPaths,
    client: httpx.Client,
    person_id: str,
    *,
    file_id: str | None = None,
    nonce_value: bytes | None = None,
    sign_file_id: str | None = None,
    consents: tuple[ConsentAnswer, ...] = (),
) -> QualificationRequest:
    """A card visit as the appliance sends it, signed with the person's card key."""
    file_id = file_id or new_file_id()
    value = nonce(client) if nonce_value is None else nonce_value
    signature = pki.card_signature(person_id, value, MIC, sign_file_id or file_id)
    card = CardAuthentication(pki.card_cert(person_id).read_bytes(), value, signature, "pin")
    return QualificationRequest(MIC, DATE, file_id, "1", card=card, consents=consents)


def search_request(person_id: str, **changes: object) -> QualificationRequest:
    p = person(person_id)
    search = SearchInfo(p.insurer_number, p.number, p.birthdate, p.symbol, p.branch)
    search = replace(search, **changes)  # type: ignore[arg-type]
    return QualificationRequest(MIC, DATE, new_file_id(), "2", search=search)


def ask(client: httpx.Client, req: QualificationRequest) -> QualificationResult:
    r = client.post("/v1/qualification", content=build_request(req), headers=XML)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return parse_result(r.content)


# -- TLS --


def test_no_client_certificate_is_refused_by_tls(central: CentralServer, sim_pki: PkiPaths) -> None:
    with httpx.Client(base_url=central.url, verify=tls(sim_pki, cert=False)) as c:
        with pytest.raises(httpx.TransportError):
            c.get("/v1/health")


def test_certificate_from_another_ca_is_refused(central: CentralServer, sim_pki: PkiPaths) -> None:
    context = tls(sim_pki, cert=False)
    context.load_cert_chain(sim_pki.central_server_cert, sim_pki.central_server_key)
    with httpx.Client(base_url=central.url, verify=context) as c:
        with pytest.raises(httpx.TransportError):
            c.get("/v1/health")


def test_health_and_time(client: httpx.Client) -> None:
    assert client.get("/v1/health").json() == {"ok": True}
    now = client.get("/v1/time").json()["now"]
    assert now.endswith("+00:00")


def test_nonce_is_fresh_32_bytes(client: httpx.Client) -> None:
    r = client.post("/v1/nonce")
    assert r.json()["expires_in"] == 120
    first = base64.b64decode(r.json()["nonce"])
    assert len(first) == 32 and first != nonce(client)


# -- card confirmations --


def test_valid_card_confirmation(client: httpx.Client, sim_pki: PkiPaths) -> None:
    consents = (
        ConsentAnswer("drug", True, "20260401093000"),
        ConsentAnswer("checkup", False, "20260401093000"),
    )
    req = card_request(sim_pki, client, "P001", consents=consents)
    result = ask(client, req)
    assert is_insured(result)
    assert (result.file_id, result.reference_classification) == (req.file_id, "1")
    assert result.character_code == "0"
    (q,) = result.results
    p = person("P001")
    assert (q.name, q.insurer_number, q.contribution_ratio) == (
        p.name,
        p.insurer_number,
        "030",
    )
    drug, checkup = q.consents
    assert (drug.kind, drug.flag, drug.available_time) == ("drug", "1", "20260402093000")
    assert (checkup.kind, checkup.flag, checkup.available_time) == ("checkup", "0", "")


def test_card_of_elderly_person_carries_certificate_and_limit(
    client: httpx.Client, sim_pki: PkiPaths
) -> None:
    (q,) = ask(client, card_request(sim_pki, client, "P011")).results
    assert q.elderly is not None and q.elderly.ratio == "020"
    assert q.elderly.valid_start <= DATE <= q.elderly.valid_end
    assert q.limit is not None and q.limit.flag == person("P011").limit_flag


@pytest.mark.parametrize(
    ("person_id", "code", "words"),
    [("P019", "EC03", "有効期限"), ("P020", "EC05", "失効")],
)
def test_expired_and_revoked_cards_are_refused(
    client: httpx.Client, sim_pki: PkiPaths, person_id: str, code: str, words: str
) -> None:
    result = ask(client, card_request(sim_pki, client, person_id))
    assert (result.segment_of_result, result.error_code) == ("9", code)
    assert words in result.error_message and " / " in result.error_message
    assert result.results == () and not is_insured(result)


def test_bad_signature_is_refused(client: httpx.Client, sim_pki: PkiPaths) -> None:
    req = card_request(sim_pki, client, "P001", sign_file_id="another-visit")
    result = ask(client, req)
    assert (result.segment_of_result, result.error_code) == ("9", "EC06")


def test_certificate_outside_the_jpki_chain_is_refused(
    client: httpx.Client, sim_pki: PkiPaths
) -> None:
    value = nonce(client)
    file_id = new_file_id()
    # The device certificate is real, but issued by the device CA, not the JPKI root.
    key = private_key(sim_pki.device_key.read_bytes())
    signature = key.sign(signed_payload(value, MIC, file_id), padding.PKCS1v15(), hashes.SHA256())
    der = x509.load_pem_x509_certificate(sim_pki.device_cert.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    card = CardAuthentication(der, value, signature, "pin")
    result = ask(client, QualificationRequest(MIC, DATE, file_id, "1", card=card))
    assert (result.segment_of_result, result.error_code) == ("9", "EC02")


def test_reused_nonce_is_refused(client: httpx.Client, sim_pki: PkiPaths) -> None:
    value = nonce(client)
    assert is_insured(ask(client, card_request(sim_pki, client, "P001", nonce_value=value)))
    again = ask(client, card_request(sim_pki, client, "P001", nonce_value=value))
    assert (again.segment_of_result, again.error_code) == ("9", "EN03")


def test_unknown_nonce_is_refused(client: httpx.Client, sim_pki: PkiPaths) -> None:
    req = card_request(sim_pki, client, "P001", nonce_value=secrets.token_bytes(32))
    assert ask(client, req).error_code == "EN01"


def test_expired_nonce_is_refused(
    client: httpx.Client, central: CentralServer, sim_pki: PkiPaths
) -> None:
    central.service.nonce_ttl_s = 0.05
    value = nonce(client)
    time.sleep(0.1)
    assert ask(client, card_request(sim_pki, client, "P001", nonce_value=value)).error_code == (
        "EN02"
    )


def test_unregistered_card_is_not_found(client: httpx.Client, sim_pki: PkiPaths) -> None:
    result = ask(client, card_request(sim_pki, client, "P016"))
    assert (result.segment_of_result, result.validity, result.results) == ("1", "4", ())
    assert result.processing_message


def test_card_with_duplicate_records_lists_both(client: httpx.Client, sim_pki: PkiPaths) -> None:
    result = ask(client, card_request(sim_pki, client, "P017"))
    assert result.validity == "5"
    assert sorted(q.name for q in result.results) == sorted(
        [person("P017").name, person("P018").name]
    )


# -- insurance-number searches --


def test_search_by_insurance_numbers(client: httpx.Client) -> None:
    result = ask(client, search_request("P002"))
    assert is_insured(result)
    assert result.search is not None and result.search.number == person("P002").number
    (q,) = result.results
    assert (q.personal_family, q.branch, q.insured_name) == ("2", "01", person("P001").name)
    assert q.limit is None


def test_search_without_branch_and_with_padded_kokuho_number(client: httpx.Client) -> None:
    p = person("P008")
    assert len(p.insurer_number) == 6
    for padded in ("00" + p.insurer_number, "  " + p.insurer_number):
        result = ask(client, search_request("P008", insurer_number=padded, branch=""))
        assert is_insured(result), padded
        assert result.results[0].name == p.name


def test_search_with_limit_consent_returns_limit_information(client: httpx.Client) -> None:
    (q,) = ask(client, search_request("P010", limit_consent=True)).results
    assert q.limit is not None and (q.limit.classification, q.limit.flag) == ("01", "A03")
    (q,) = ask(client, search_request("P010")).results
    assert q.limit is None


def test_search_multiple_matches(client: httpx.Client) -> None:
    result = ask(client, search_request("P017"))
    assert (result.validity, len(result.results)) == ("5", 2)
    assert "複数" in result.processing_message
    assert not is_insured(result)


def test_search_not_found(client: httpx.Client) -> None:
    result = ask(client, search_request("P001", number="99999"))
    assert (result.segment_of_result, result.validity, result.results) == ("1", "4", ())
    assert ask(client, search_request("P016")).validity == "4"  # unregistered record


def test_search_with_a_tolerated_symbol_answers_the_registered_numbers(
    client: httpx.Client,
) -> None:
    """記号番号の相違: the national system tolerates a symbol written otherwise or left out when
    insurer, number and birth date match one person, and answers that person's numbers."""
    p = person("P001")
    for asked in ("４０１０２０３０", "4010-2030", "4010 2030", ""):
        result = ask(client, search_request("P001", symbol=asked))
        assert is_insured(result), asked
        (q,) = result.results
        assert (q.symbol, q.number, q.name) == (p.symbol, p.number, p.name), asked
    # the number is never tolerated, nor a symbol that is another one
    assert ask(client, search_request("P001", symbol="", number="16")).validity == "4"
    assert ask(client, search_request("P001", symbol="40102031")).validity == "4"
    # a symbol left out that leaves two people (P017, P018) finds none
    assert ask(client, search_request("P017", symbol="")).validity == "4"


def test_search_lost_qualification(client: httpx.Client) -> None:
    result = ask(client, search_request("P013"))
    assert result.validity == "2"
    (q,) = result.results
    assert (q.disqualification_date, q.reason_of_loss) == ("20260228", "99")


def test_search_old_qualification_answers_with_the_newer_one(client: httpx.Client) -> None:
    result = ask(client, search_request("P014"))
    assert result.validity == "3"
    (q,) = result.results
    assert q.insurer_number == person("P015").insurer_number


def test_shift_jis_answer_keeps_characters_outside_jis(
    client: httpx.Client, central: CentralServer
) -> None:
    central.service.encoding = "shift_jis"
    r = client.post("/v1/qualification", content=build_request(search_request("P007")), headers=XML)
    assert r.headers["content-type"] == "application/xml; charset=Shift_JIS"
    result = parse_result(r.content)
    assert result.character_code == "1"
    assert result.results[0].name == person("P007").name


# -- idempotency and refusals --


def test_replay_returns_the_stored_answer(client: httpx.Client, sim_pki: PkiPaths) -> None:
    body = build_request(card_request(sim_pki, client, "P001"))
    first = client.post("/v1/qualification", content=body, headers=XML)
    second = client.post("/v1/qualification", content=body, headers=XML)
    assert second.status_code == 200
    assert second.content == first.content  # the spent nonce is not checked again
    assert is_insured(parse_result(second.content))


def test_conflicting_replay_is_409(client: httpx.Client) -> None:
    req = search_request("P001")
    assert client.post("/v1/qualification", content=build_request(req), headers=XML).is_success
    other = replace(req, search=search_request("P002").search)
    r = client.post("/v1/qualification", content=build_request(other), headers=XML)
    assert r.status_code == 409 and "ArbitraryFileIdentifier" in r.json()["error"]


def test_malformed_xml_is_400(client: httpx.Client) -> None:
    r = client.post("/v1/qualification", content=b"<XmlMsg><MessageHeader>", headers=XML)
    assert r.status_code == 400 and "XML" in r.json()["error"]
    body = build_request(search_request("P001")).replace(b"ArbitraryFileIdentifier", b"Other")
    r = client.post("/v1/qualification", content=body, headers=XML)
    assert r.status_code == 400
    assert "MessageHeader/ArbitraryFileIdentifier" in r.json()["error"]


def test_wrong_medical_institution_code_is_403(client: httpx.Client) -> None:
    req = replace(search_request("P001"), medical_institution_code="1399999990")
    r = client.post("/v1/qualification", content=build_request(req), headers=XML)
    assert r.status_code == 403 and "MedicalInstitutionCode" in r.json()["error"]


# -- fault injection --


def test_outage_answers_503_everywhere(client: httpx.Client, central: CentralServer) -> None:
    central.service.outage(True)
    assert client.get("/v1/health").status_code == 503
    assert client.post("/v1/nonce").status_code == 503
    central.service.outage(False)
    assert client.get("/v1/health").status_code == 200


def test_fail_next_and_latency(client: httpx.Client, central: CentralServer) -> None:
    central.service.fail_next(2, status=502)
    assert [client.get("/v1/health").status_code for _ in range(3)] == [502, 502, 200]
    central.service.latency_s = 0.2
    started = time.monotonic()
    assert client.get("/v1/health").status_code == 200
    assert time.monotonic() - started >= 0.2


# -- consent, drug information and checkups --


def medinfo_request(person_id: str, kind: str) -> MedicalInfoRequest:
    p = person(person_id)
    this_month = datetime.now(JST).strftime("%Y%m")
    return MedicalInfoRequest(
        kind=kind,
        medical_institution_code=MIC,
        file_id=new_file_id(),
        insurer_number=p.insurer_number,
        number=p.number,
        birthdate=p.birthdate,
        start_month=f"{int(this_month[:4]) - 5}{this_month[4:]}",
        end_month=this_month,
        symbol=p.symbol,
        branch=p.branch,
    )


@pytest.fixture
def central_client(central: CentralServer, sim_pki: PkiPaths) -> Iterator[CentralClient]:
    verify = tls_context(sim_pki.central_ca_cert, sim_pki.device_cert, sim_pki.device_key)
    c = CentralClient(central.url, verify=verify, sleep=lambda s: None)
    yield c
    c.close()


def test_consent_in_a_card_visit_opens_drug_information_only(
    client: httpx.Client, central_client: CentralClient, sim_pki: PkiPaths
) -> None:
    now = datetime.now(JST).strftime("%Y%m%d%H%M%S")
    consents = (ConsentAnswer("drug", True, now), ConsentAnswer("checkup", False, now))
    assert is_insured(ask(client, card_request(sim_pki, client, "P010", consents=consents)))

    drug = central_client.medical_info(medinfo_request("P010", "drug"))
    assert (drug.result.segment_of_result, drug.result.kind) == ("1", "drug")
    assert len(drug.result.months) >= 12
    names = {d.name for m in drug.result.months for x in m.dispensings for d in x.drugs}
    assert "メトホルミン塩酸塩錠250mgMT" in names
    assert drug.raw.startswith(b"<?xml") and drug.round_trip_s > 0

    checkup = central_client.medical_info(medinfo_request("P010", "checkup"))
    assert (checkup.result.segment_of_result, checkup.result.error_code) == ("9", "EK01")
    assert checkup.result.exams == () and "同意" in checkup.result.error_message


def test_visual_card_visit_over_tls(client: httpx.Client, sim_pki: PkiPaths) -> None:
    card = CardAuthentication(sim_pki.card_cert("P026").read_bytes(), b"", b"", "visual")
    result = ask(client, QualificationRequest(MIC, DATE, new_file_id(), "1", card=card))
    assert is_insured(result) and result.results[0].name == person("P026").name
    card = CardAuthentication(sim_pki.card_cert("P020").read_bytes(), b"", b"", "visual")
    result = ask(client, QualificationRequest(MIC, DATE, new_file_id(), "1", card=card))
    assert result.error_code == "EC05"


def test_medical_information_http_refusals_and_faults(
    client: httpx.Client, central: CentralServer
) -> None:
    body = build_medinfo_request(medinfo_request("P001", "drug"))
    r = client.post("/v1/health-checkups", content=body, headers=XML)
    assert r.status_code == 400 and "MessageKind" in r.json()["error"]
    r = client.post("/v1/drug-information", content=b"<XmlMsg>", headers=XML)
    assert r.status_code == 400
    central.service.outage(True)
    assert client.post("/v1/drug-information", content=body, headers=XML).status_code == 503
    assert client.post("/v1/health-checkups", content=body, headers=XML).status_code == 503
    central.service.outage(False)
    central.service.latency_s = 0.2
    started = time.monotonic()
    r = client.post("/v1/drug-information", content=body, headers=XML)
    assert time.monotonic() - started >= 0.2
    assert r.status_code == 200 and parse_medinfo_result(r.content).kind == "drug"
