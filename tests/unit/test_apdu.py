import pytest

from reader.apdu import (
    INS_COMPUTE_SIGNATURE,
    INS_READ_BINARY,
    INS_SELECT,
    INS_VERIFY,
    Apdu,
    ApduError,
    StatusWord,
    describe_sw,
)
from reader.errors import (
    CardError,
    CardRemoved,
    ForbiddenApdu,
    NoReader,
    NotAJpkiCard,
    PinBlocked,
    PinFormatError,
    ReaderError,
    ReaderUnavailable,
    WrongPin,
)


def test_constants() -> None:
    assert (INS_SELECT, INS_READ_BINARY, INS_VERIFY, INS_COMPUTE_SIGNATURE) == (
        0xA4,
        0xB0,
        0x20,
        0x2A,
    )
    assert int(StatusWord.FILE_NOT_FOUND) == 0x6A82
    assert int(StatusWord.AUTH_METHOD_BLOCKED) == 0x6983


@pytest.mark.parametrize(
    ("apdu", "raw"),
    [
        (Apdu(0x00, 0x20, 0x00, 0x80), "00 20 00 80"),
        (Apdu(0x00, 0xB0, 0x00, 0x00, le=256), "00 B0 00 00 00"),
        (Apdu(0x00, 0xB0, 0x03, 0x00, le=0xE8), "00 B0 03 00 E8"),
        (Apdu(0x00, 0xA4, 0x02, 0x0C, b"\x00\x0a"), "00 A4 02 0C 02 00 0A"),
        (Apdu(0x80, 0x2A, 0x00, 0x80, b"\x01\x02\x03", le=256), "80 2A 00 80 03 01 02 03 00"),
        (Apdu(0x00, 0x20, 0x00, 0x80, b"1234"), "00 20 00 80 04 31 32 33 34"),
    ],
)
def test_encode_and_parse_round_trip(apdu: Apdu, raw: str) -> None:
    assert apdu.to_bytes() == bytes.fromhex(raw)
    assert Apdu.parse(bytes.fromhex(raw)) == apdu


def test_header() -> None:
    assert Apdu(0x00, 0xA4, 0x04, 0x0C, b"\xd3").header() == "00 A4 04 0C"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "00 A4 04",
        "00 A4 04 0C 05 01 02",  # Lc says 5, only 2 follow
        "00 A4 04 0C 02 01 02 03 04",  # too many trailing bytes
        "00 B0 00 00 00 01 00",  # extended length
    ],
)
def test_parse_rejects_malformed(raw: str) -> None:
    with pytest.raises(ValueError):
        Apdu.parse(bytes.fromhex(raw))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cla": 0x100, "ins": 0, "p1": 0, "p2": 0},
        {"cla": 0, "ins": -1, "p1": 0, "p2": 0},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "data": bytes(256)},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "le": 0},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "le": 257},
    ],
)
def test_invalid_fields_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Apdu(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sw", "text"),
    [
        (0x9000, "9000 success"),
        (0x6A82, "6A82 file not found"),
        (0x6982, "6982 security status not satisfied"),
        (0x6983, "6983 authentication method blocked"),
        (0x6B00, "6B00 offset beyond the end of the file"),
        (0x6F12, "6F12 unknown status"),
        (0x0001, "0001 unknown status"),
        (0x63C2, "63C2 wrong PIN, 2 tries left"),
        (0x63C0, "63C0 wrong PIN, 0 tries left"),
    ],
)
def test_describe_sw(sw: int, text: str) -> None:
    assert describe_sw(sw) == text


def test_apdu_error() -> None:
    err = ApduError(0x6A82, b"\x01")
    assert (err.sw, err.data) == (0x6A82, b"\x01")
    assert str(err) == "6A82 file not found"
    assert str(ApduError(0x6F12)) == "6F12 unknown status"


def test_card_error_is_both_reader_and_apdu_error() -> None:
    err = CardError(0x6F12, b"x")
    assert isinstance(err, ReaderError)
    assert isinstance(err, ApduError)
    assert err.sw == 0x6F12
    assert "6F12 unknown status" in str(err)
    assert str(err).index("カード") < str(err).index("card")


@pytest.mark.parametrize(
    "err",
    [
        CardRemoved(),
        WrongPin(2),
        PinBlocked(),
        PinFormatError(),
        NotAJpkiCard(),
        ForbiddenApdu(b"\x00\xa4\x04\x0c", "AID D3921000310001010408"),
        NoReader("Virtual PCD 00 05"),
        ReaderUnavailable(),
        CardError(0x6A82),
    ],
)
def test_errors_are_japanese_then_english(err: ReaderError) -> None:
    assert isinstance(err, ReaderError)
    assert str(err) == f"{err.ja} / {err.en}"
    assert any(ord(c) > 0x3000 for c in err.ja)
    assert err.en.isascii()


def test_error_details() -> None:
    assert str(CardRemoved()) == "カードが取り外されました / card removed"
    assert WrongPin(1).tries_left == 1
    assert "1 tries left" in str(WrongPin(1))
    refused = ForbiddenApdu(b"\x00\xa4\x04\x0c", "AID D3921000310001010408")
    assert "D3921000310001010408" in str(refused)
    assert "Virtual PCD 00 05" in str(NoReader("Virtual PCD 00 05"))
