import pytest

from reader.connection import TimedConnection
from reader.errors import (
    CardError,
    CardRemoved,
    NotAJpkiCard,
    PinBlocked,
    PinFormatError,
    ReaderError,
    WrongPin,
)
from reader.fake import (
    OK,
    ScriptedConnection,
    Step,
    fake_certificate,
    jpki_script,
    read_steps,
)
from reader.jpki import (
    EF_AUTH_CA_CERT,
    EF_AUTH_CERT,
    EF_AUTH_KEY,
    EF_AUTH_PIN,
    EF_SIGN_CERT,
    EF_SIGN_PIN,
    JPKI_AP,
    SHA256_DIGEST_INFO_PREFIX,
    JpkiSession,
    digest_info_sha256,
)

SELECT_AP = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"
SELECT_000A = "00 A4 02 0C 02 00 0A"
SELECT_000B = "00 A4 02 0C 02 00 0B"
SELECT_0017 = "00 A4 02 0C 02 00 17"
SELECT_0018 = "00 A4 02 0C 02 00 18"
VERIFY_EMPTY = "00 20 00 80"
VERIFY_1234 = "00 20 00 80 04 31 32 33 34"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def ef_content(cert: bytes, size: int = 2048) -> bytes:
    return cert.ljust(size, b"\xff")


def test_constants() -> None:
    assert JPKI_AP == h("D3 92 F0 00 26 01 00 00 00 01")
    assert (EF_AUTH_CERT, EF_AUTH_CA_CERT, EF_AUTH_KEY, EF_AUTH_PIN) == (0x0A, 0x0B, 0x17, 0x18)
    assert (EF_SIGN_CERT, EF_SIGN_PIN) == (0x01, 0x1B)


def test_digest_info() -> None:
    digest = bytes(range(32))
    info = digest_info_sha256(digest)
    assert info == h("3031300d060960864801650304020105000420") + digest
    assert info.startswith(SHA256_DIGEST_INFO_PREFIX)
    assert len(info) == 0x33
    for bad in (bytes(31), bytes(33), b""):
        with pytest.raises(ValueError):
            digest_info_sha256(bad)


# (certificate size, [(READ BINARY command, bytes the session keeps from that read)])
READ_PLANS = [
    (1024, ["00 B0 00 00 00", "00 B0 01 00 00", "00 B0 02 00 00", "00 B0 03 00 00"]),
    (1000, ["00 B0 00 00 00", "00 B0 01 00 00", "00 B0 02 00 00", "00 B0 03 00 E8"]),
    (256, ["00 B0 00 00 00"]),
    (200, ["00 B0 00 00 00"]),
    (257, ["00 B0 00 00 00", "00 B0 01 00 01"]),
    (512, ["00 B0 00 00 00", "00 B0 01 00 00"]),
    (1290, ["00 B0 00 00 00", "00 B0 01 00 00", "00 B0 02 00 00", "00 B0 03 00 00",
            "00 B0 04 00 00", "00 B0 05 00 0A"]),
]  # fmt: skip


@pytest.mark.parametrize(("size", "reads"), READ_PLANS, ids=[str(p[0]) for p in READ_PLANS])
def test_read_auth_certificate_exact_apdus(size: int, reads: list[str]) -> None:
    cert = fake_certificate(size)
    content = ef_content(cert)
    script: list[Step] = [(h(SELECT_AP), OK), (h(SELECT_000A), OK)]
    for cmd in reads:
        raw = h(cmd)
        offset = raw[2] << 8 | raw[3]
        length = raw[4] or 256
        script.append((raw, content[offset : offset + length] + OK))
    card = ScriptedConnection(script)
    session = JpkiSession(card)
    assert session.read_auth_certificate() == cert
    card.assert_done()
    # The fake's helper produces the same plan as the literal one above.
    assert jpki_script(cert, ef_size=2048) == script


def test_read_ca_certificate_uses_000b() -> None:
    cert = fake_certificate(900)
    card = ScriptedConnection(
        [(h(SELECT_AP), OK), (h(SELECT_000B), OK), *read_steps(cert, ef_size=1024)]
    )
    assert JpkiSession(card).read_auth_ca_certificate() == cert
    card.assert_done()


def test_pin_visit_exact_sequence() -> None:
    cert = fake_certificate(1000)
    content = ef_content(cert)
    digest_info = digest_info_sha256(bytes(range(32)))
    signature = bytes(range(256))
    card = ScriptedConnection(
        [
            (h(SELECT_AP), OK),
            (h(SELECT_000A), OK),
            (h("00 B0 00 00 00"), content[0:256] + OK),
            (h("00 B0 01 00 00"), content[256:512] + OK),
            (h("00 B0 02 00 00"), content[512:768] + OK),
            (h("00 B0 03 00 E8"), content[768:1000] + OK),
            (h(SELECT_0018), OK),
            (h(VERIFY_EMPTY), h("63 C3")),
            (h(VERIFY_1234), OK),
            (h(SELECT_0017), OK),
            (h("80 2A 00 80 33") + digest_info + h("00"), signature + OK),
        ]
    )
    session = JpkiSession(card)
    assert session.read_auth_certificate() == cert
    assert session.pin_tries_left() == 3
    session.verify_pin("1234")
    assert session.sign(digest_info) == signature
    card.assert_done()
    assert session.apdu_headers == [
        "00 A4 04 0C",
        "00 A4 02 0C",
        "00 B0 00 00",
        "00 B0 01 00",
        "00 B0 02 00",
        "00 B0 03 00",
        "00 A4 02 0C",
        "00 20 00 80",
        "00 20 00 80",
        "00 A4 02 0C",
        "80 2A 00 80",
    ]


def test_ap_selected_once_per_session() -> None:
    cert = fake_certificate(300)
    card = ScriptedConnection(
        [
            (h(SELECT_AP), OK),
            (h(SELECT_000A), OK),
            *read_steps(cert),
            (h(SELECT_000B), OK),
            *read_steps(cert),
            (h(SELECT_0018), OK),
            (h(VERIFY_EMPTY), h("63 C2")),
            (h(VERIFY_EMPTY), h("63 C2")),
        ]
    )
    session = JpkiSession(card)
    session.read_auth_certificate()
    session.read_auth_ca_certificate()
    assert session.pin_tries_left() == 2
    assert session.pin_tries_left() == 2  # 0018 is not re-selected
    card.assert_done()


def pin_script(verify_sw: str) -> ScriptedConnection:
    return ScriptedConnection(
        [(h(SELECT_AP), OK), (h(SELECT_0018), OK), (h(VERIFY_1234), h(verify_sw))]
    )


@pytest.mark.parametrize(("sw", "tries"), [("63 C2", 2), ("63 C1", 1)])
def test_wrong_pin(sw: str, tries: int) -> None:
    card = pin_script(sw)
    with pytest.raises(WrongPin) as info:
        JpkiSession(card).verify_pin("1234")
    assert info.value.tries_left == tries
    card.assert_done()


@pytest.mark.parametrize("sw", ["63 C0", "69 83", "69 84"])
def test_blocked_pin(sw: str) -> None:
    card = pin_script(sw)
    with pytest.raises(PinBlocked):
        JpkiSession(card).verify_pin("1234")
    card.assert_done()


def test_unexpected_verify_status_is_card_error() -> None:
    with pytest.raises(CardError) as info:
        JpkiSession(pin_script("6A 88")).verify_pin("1234")
    assert info.value.sw == 0x6A88


@pytest.mark.parametrize(
    ("sw", "tries"),
    [("63 C3", 3), ("63 C1", 1), ("63 C0", 0), ("69 83", 0), ("69 84", 0), ("90 00", 3)],
)
def test_pin_tries_left(sw: str, tries: int) -> None:
    card = ScriptedConnection([(h(SELECT_AP), OK), (h(SELECT_0018), OK), (h(VERIFY_EMPTY), h(sw))])
    assert JpkiSession(card).pin_tries_left() == tries
    card.assert_done()


@pytest.mark.parametrize(
    "pin", ["", "123", "12345", "12a4", "１２３４", " 123", "123 ", "٣٤٥٦", "12.4", "-123"]
)
def test_bad_pin_format_sends_nothing(pin: str) -> None:
    card = ScriptedConnection([])
    session = JpkiSession(card)
    with pytest.raises(PinFormatError):
        session.verify_pin(pin)
    assert card.sent == []
    assert session.apdu_headers == []


def test_not_a_jpki_card() -> None:
    card = ScriptedConnection([(h(SELECT_AP), h("6A 82"))])
    with pytest.raises(NotAJpkiCard):
        JpkiSession(card).read_auth_certificate()
    card.assert_done()


def test_select_ap_other_failure_is_card_error() -> None:
    card = ScriptedConnection([(h(SELECT_AP), h("6F 00"))])
    with pytest.raises(CardError) as info:
        JpkiSession(card).select_ap()
    assert info.value.sw == 0x6F00


def test_sign_before_verify_refused() -> None:
    card = ScriptedConnection([])
    with pytest.raises(ReaderError) as info:
        JpkiSession(card).sign(digest_info_sha256(bytes(32)))
    assert type(info.value) is ReaderError
    assert card.sent == []


def test_sign_after_wrong_pin_refused() -> None:
    card = pin_script("63 C2")
    session = JpkiSession(card)
    with pytest.raises(WrongPin):
        session.verify_pin("1234")
    with pytest.raises(ReaderError):
        session.sign(digest_info_sha256(bytes(32)))
    card.assert_done()


def test_sign_error_status() -> None:
    digest_info = digest_info_sha256(bytes(32))
    card = ScriptedConnection(
        [
            (h(SELECT_AP), OK),
            (h(SELECT_0018), OK),
            (h(VERIFY_1234), OK),
            (h(SELECT_0017), OK),
            (h("80 2A 00 80 33") + digest_info + h("00"), h("69 82")),
        ]
    )
    session = JpkiSession(card)
    session.verify_pin("1234")
    with pytest.raises(CardError) as info:
        session.sign(digest_info)
    assert info.value.sw == 0x6982


def test_bad_der_header_is_card_error() -> None:
    card = ScriptedConnection(
        [(h(SELECT_AP), OK), (h(SELECT_000A), OK), (h("00 B0 00 00 00"), b"\xff" * 256 + OK)]
    )
    with pytest.raises(CardError, match="30 82"):
        JpkiSession(card).read_auth_certificate()


def test_unexpected_status_mid_read() -> None:
    cert = fake_certificate(600)
    card = ScriptedConnection(
        [
            (h(SELECT_AP), OK),
            (h(SELECT_000A), OK),
            (h("00 B0 00 00 00"), cert[:256] + OK),
            (h("00 B0 01 00 00"), h("6B 00")),
        ]
    )
    with pytest.raises(CardError) as info:
        JpkiSession(card).read_auth_certificate()
    assert info.value.sw == 0x6B00


def test_empty_chunk_does_not_loop() -> None:
    cert = fake_certificate(600)
    card = ScriptedConnection(
        [
            (h(SELECT_AP), OK),
            (h(SELECT_000A), OK),
            (h("00 B0 00 00 00"), cert[:256] + OK),
            (h("00 B0 01 00 00"), OK),
        ]
    )
    with pytest.raises(CardError):
        JpkiSession(card).read_auth_certificate()


def test_card_removed_propagates_unchanged() -> None:
    cert = fake_certificate(600)
    removed = CardRemoved()
    card = ScriptedConnection(
        [
            (h(SELECT_AP), OK),
            (h(SELECT_000A), OK),
            (h("00 B0 00 00 00"), cert[:256] + OK),
            (h("00 B0 01 00 00"), removed),
        ]
    )
    with pytest.raises(CardRemoved) as info:
        JpkiSession(card).read_auth_certificate()
    assert info.value is removed


def test_script_helper_builds_pin_visit() -> None:
    cert = fake_certificate(700)
    digest_info = digest_info_sha256(bytes(32))
    card = ScriptedConnection(
        jpki_script(cert, tries_left=1, pin="4931", pin_sw=0x63C0, digest_info=None)
    )
    session = JpkiSession(card)
    session.read_auth_certificate()
    assert session.pin_tries_left() == 1
    with pytest.raises(PinBlocked):
        session.verify_pin("4931")
    with pytest.raises(ReaderError):
        session.sign(digest_info)
    card.assert_done()


def test_scripted_connection_reports_mismatch_and_leftovers() -> None:
    card = ScriptedConnection([(h(SELECT_AP), OK), (h(SELECT_000A), OK)])
    with pytest.raises(AssertionError, match="first difference at byte 2"):
        card.transmit(h("00 A4 02 0C 02 00 0A"))
    card = ScriptedConnection([(h(SELECT_AP), OK), (h(SELECT_000A), OK)])
    card.transmit(h(SELECT_AP))
    with pytest.raises(AssertionError, match="never sent"):
        card.assert_done()
    with pytest.raises(AssertionError, match="not in the script"):
        ScriptedConnection([]).transmit(h(SELECT_AP))


def test_timed_connection_counts_and_sums() -> None:
    card = ScriptedConnection([(h(SELECT_AP), OK), (h(SELECT_000A), CardRemoved())])
    timed = TimedConnection(card)
    assert timed.transmit(h(SELECT_AP)) == (b"", 0x9000)
    with pytest.raises(CardRemoved):
        timed.transmit(h(SELECT_000A))
    assert timed.count == 2
    assert timed.seconds > 0
    timed.close()
    assert card.closed
