import pytest

from reader.errors import CardRemoved, ForbiddenApdu
from reader.fake import OK, ScriptedConnection, Step, jpki_script
from reader.guard import GuardedConnection
from reader.jpki import (
    EF_SIGN_CERT,
    EF_SIGN_PIN,
    FORBIDDEN_APS,
    JPKI_AP,
    JpkiSession,
    digest_info_sha256,
)

SELECT_AP = bytes.fromhex("00A4040C0A") + JPKI_AP
SELECT_000A = bytes.fromhex("00A4020C02000A")
SELECT_000B = bytes.fromhex("00A4020C02000B")
SELECT_0017 = bytes.fromhex("00A4020C020017")
SELECT_0018 = bytes.fromhex("00A4020C020018")
READ = bytes.fromhex("00B0000000")
VERIFY_EMPTY = bytes.fromhex("00200080")
VERIFY_PIN = bytes.fromhex("0020008004") + b"1234"
SIGN = bytes.fromhex("802A008033") + digest_info_sha256(bytes(32)) + b"\x00"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def __call__(self, apdu: bytes) -> None:
        self.calls.append(apdu)


def guarded(script: list[Step]) -> tuple[GuardedConnection, ScriptedConnection, Recorder]:
    inner = ScriptedConnection(script)
    recorder = Recorder()
    return GuardedConnection(inner, on_refused=recorder), inner, recorder


def send_all(guard: GuardedConnection, apdus: list[bytes]) -> None:
    for apdu in apdus:
        assert guard.transmit(apdu)[1] == 0x9000


def assert_refused(
    guard: GuardedConnection,
    inner: ScriptedConnection,
    recorder: Recorder,
    apdu: bytes,
    names: str = "",
) -> ForbiddenApdu:
    sent_before = list(inner.sent)
    with pytest.raises(ForbiddenApdu) as info:
        guard.transmit(apdu)
    assert inner.sent == sent_before, "a refused APDU must never reach the card"
    assert recorder.calls[-1] == info.value.apdu
    assert guard.refused[-1] == info.value.apdu
    if names:
        assert names in str(info.value)
    return info.value


def ok_steps(*apdus: bytes) -> list[Step]:
    return [(apdu, OK) for apdu in apdus]


@pytest.mark.parametrize("aid", FORBIDDEN_APS, ids=lambda a: a.hex().upper())
@pytest.mark.parametrize("p2", [0x0C, 0x00])
@pytest.mark.parametrize("after_jpki", [False, True])
def test_my_number_aps_refused(aid: bytes, p2: int, after_jpki: bool) -> None:
    pre = [SELECT_AP] if after_jpki else []
    guard, inner, recorder = guarded(ok_steps(*pre))
    send_all(guard, pre)
    apdu = bytes((0x00, 0xA4, 0x04, p2, len(aid))) + aid
    assert_refused(guard, inner, recorder, apdu, names=aid.hex().upper())
    assert recorder.calls == [apdu]
    inner.assert_done()


def test_forbidden_aps_are_the_three_my_number_aps() -> None:
    assert {a.hex().upper() for a in FORBIDDEN_APS} == {
        "D3921000310001010408",
        "D3921000310001010402",
        "D3921000310001010100",
    }


def test_unknown_aid_refused() -> None:
    guard, inner, recorder = guarded([])
    assert_refused(
        guard, inner, recorder, bytes.fromhex("00A4040C07A0000000041010"), "A0000000041010"
    )


@pytest.mark.parametrize("fid", [0x0001, 0x0002, 0x001A, 0x001B, 0x0000, 0x3F00, 0x0006])
def test_forbidden_efs_refused(fid: int) -> None:
    guard, inner, recorder = guarded(ok_steps(SELECT_AP))
    send_all(guard, [SELECT_AP])
    apdu = bytes.fromhex("00A4020C02") + fid.to_bytes(2, "big")
    assert_refused(guard, inner, recorder, apdu, names=f"EF {fid:04X}")
    inner.assert_done()


def test_signing_side_constants_are_refused_efs() -> None:
    guard, inner, recorder = guarded(ok_steps(SELECT_AP))
    send_all(guard, [SELECT_AP])
    for fid in (EF_SIGN_CERT, EF_SIGN_PIN):
        assert_refused(guard, inner, recorder, bytes.fromhex("00A4020C02") + fid.to_bytes(2, "big"))


def test_select_ef_before_jpki_ap_refused() -> None:
    guard, inner, recorder = guarded([])
    assert_refused(guard, inner, recorder, SELECT_000A, "JPKI AP")


def test_read_before_any_select_refused() -> None:
    guard, inner, recorder = guarded([])
    assert_refused(guard, inner, recorder, READ, "no EF")


@pytest.mark.parametrize("select", [SELECT_0017, SELECT_0018])
def test_read_of_key_or_pin_ef_refused(select: bytes) -> None:
    guard, inner, recorder = guarded(ok_steps(SELECT_AP, select))
    send_all(guard, [SELECT_AP, select])
    assert_refused(guard, inner, recorder, READ, "READ BINARY while EF")


@pytest.mark.parametrize("p1", [0x81, 0x8A, 0x9B])
def test_read_by_short_ef_refused_even_with_000a_selected(p1: int) -> None:
    guard, inner, recorder = guarded(ok_steps(SELECT_AP, SELECT_000A))
    send_all(guard, [SELECT_AP, SELECT_000A])
    assert_refused(guard, inner, recorder, bytes((0x00, 0xB0, p1, 0x00, 0x00)), "short EF")


def test_read_after_ap_reselect_refused() -> None:
    guard, inner, recorder = guarded(ok_steps(SELECT_AP, SELECT_000A, SELECT_AP))
    send_all(guard, [SELECT_AP, SELECT_000A, SELECT_AP])
    assert_refused(guard, inner, recorder, READ)


@pytest.mark.parametrize("verify", [VERIFY_EMPTY, VERIFY_PIN])
@pytest.mark.parametrize(
    "pre", [[], [SELECT_AP], [SELECT_AP, SELECT_000A], [SELECT_AP, SELECT_0017]]
)
def test_verify_outside_0018_refused(verify: bytes, pre: list[bytes]) -> None:
    guard, inner, recorder = guarded(ok_steps(*pre))
    send_all(guard, pre)
    refused = assert_refused(guard, inner, recorder, verify, "VERIFY while")
    assert b"1234" not in refused.apdu
    assert b"1234" not in recorder.calls[-1]
    assert "1234" not in str(refused)


@pytest.mark.parametrize(
    "verify",
    [
        bytes.fromhex("0020008006") + b"123456",  # signing-PIN sized
        bytes.fromhex("002000810431323334"),  # another PIN reference
        bytes.fromhex("00200080043132333400"),  # with Le
    ],
)
def test_verify_variants_refused_even_in_0018(verify: bytes) -> None:
    guard, inner, recorder = guarded(ok_steps(SELECT_AP, SELECT_0018))
    send_all(guard, [SELECT_AP, SELECT_0018])
    refused = assert_refused(guard, inner, recorder, verify)
    assert b"1234" not in refused.apdu


@pytest.mark.parametrize(
    "pre", [[], [SELECT_AP], [SELECT_AP, SELECT_000A], [SELECT_AP, SELECT_0018, VERIFY_PIN]]
)
def test_signature_outside_0017_refused(pre: list[bytes]) -> None:
    guard, inner, recorder = guarded(ok_steps(*pre))
    send_all(guard, pre)
    assert_refused(guard, inner, recorder, SIGN, "COMPUTE DIGITAL SIGNATURE while")


@pytest.mark.parametrize(
    "apdu",
    [
        "0084000008",  # GET CHALLENGE
        "00C0000010",  # GET RESPONSE
        "00D600000131",  # UPDATE BINARY
        "0024008008" + "3132333435363738",  # CHANGE REFERENCE DATA
        "002C000000",  # RESET RETRY COUNTER
        "0088000004AABBCCDD00",  # INTERNAL AUTHENTICATE
        "002241B603800101",  # MANAGE SECURITY ENVIRONMENT
        "80CA9F7F00",  # GET DATA
        "002A9E9A0401020304",  # PSO signature with ISO CLA
        "802A009A0401020304",  # sign with other P2
        "00A4080C04000A0001",  # SELECT by path
        "00A4000C023F00",  # SELECT MF
        "80A4040C0A" + JPKI_AP.hex(),  # JPKI AP with proprietary CLA
        "00A40404" + "0A" + JPKI_AP.hex(),  # SELECT AID with another P2
        "00A4020002000A",  # SELECT EF with FCI
        "00B000000000FF",  # malformed: extended length
        "00A4040C0A0102",  # malformed: Lc too large
        "00A4",  # too short
        "",
    ],
)
def test_other_commands_refused(apdu: str) -> None:
    guard, inner, recorder = guarded(ok_steps(SELECT_AP, SELECT_000A))
    send_all(guard, [SELECT_AP, SELECT_000A])
    assert_refused(guard, inner, recorder, bytes.fromhex(apdu))


def test_allowed_visit_passes_through() -> None:
    script = ok_steps(
        SELECT_AP,
        SELECT_000A,
        READ,
        SELECT_000B,
        READ,
        SELECT_0018,
        VERIFY_EMPTY,
        VERIFY_PIN,
        SELECT_0017,
        SIGN,
    )
    guard, inner, recorder = guarded(script)
    send_all(guard, [cmd for cmd, _ in script])
    inner.assert_done()
    assert guard.refused == [] and recorder.calls == []


def test_select_aid_with_fci_allowed() -> None:
    apdu = bytes.fromhex("00A404000A") + JPKI_AP
    guard, inner, _ = guarded(ok_steps(apdu))
    guard.transmit(apdu)
    inner.assert_done()


def test_failed_select_clears_selection() -> None:
    guard, inner, recorder = guarded(
        [(SELECT_AP, OK), (SELECT_000A, OK), (SELECT_000B, bytes.fromhex("6A82"))]
    )
    send_all(guard, [SELECT_AP, SELECT_000A])
    assert guard.transmit(SELECT_000B)[1] == 0x6A82
    assert_refused(guard, inner, recorder, READ)


def test_card_removed_clears_selection() -> None:
    guard, inner, recorder = guarded([(SELECT_AP, OK), (SELECT_000A, CardRemoved())])
    send_all(guard, [SELECT_AP])
    with pytest.raises(CardRemoved):
        guard.transmit(SELECT_000A)
    assert_refused(guard, inner, recorder, SELECT_000A)


def test_failing_callback_still_refuses() -> None:
    def boom(apdu: bytes) -> None:
        raise RuntimeError("audit down")

    inner = ScriptedConnection([])
    guard = GuardedConnection(inner, on_refused=boom)
    with pytest.raises(ForbiddenApdu):
        guard.transmit(READ)
    assert inner.sent == []


def test_without_callback() -> None:
    inner = ScriptedConnection([])
    guard = GuardedConnection(inner)
    with pytest.raises(ForbiddenApdu):
        guard.transmit(READ)
    assert guard.refused == [READ]


def test_jpki_session_through_guard() -> None:
    cert = b"\x30\x82\x01\x2c" + bytes(300)
    digest_info = digest_info_sha256(bytes(range(32)))
    inner = ScriptedConnection(
        jpki_script(cert, pin="1234", digest_info=digest_info, signature=b"\x55" * 256)
    )
    recorder = Recorder()
    session = JpkiSession(GuardedConnection(inner, on_refused=recorder))
    assert session.read_auth_certificate() == cert
    assert session.pin_tries_left() == 3
    session.verify_pin("1234")
    assert session.sign(digest_info) == b"\x55" * 256
    inner.assert_done()
    assert recorder.calls == []


def test_close_closes_inner() -> None:
    inner = ScriptedConnection([])
    GuardedConnection(inner).close()
    assert inner.closed
