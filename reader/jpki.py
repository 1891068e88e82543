"""The JPKI user-authentication application of a My Number card, over any CardConnection."""

from __future__ import annotations

from reader.apdu import (
    INS_COMPUTE_SIGNATURE,
    INS_READ_BINARY,
    INS_SELECT,
    INS_VERIFY,
    Apdu,
    StatusWord,
    pin_tries,
)
from reader.connection import CardConnection
from reader.errors import (
    CardError,
    NotAJpkiCard,
    PinBlocked,
    PinFormatError,
    ReaderError,
    WrongPin,
)

JPKI_AP = bytes.fromhex("D392F000260100000001")
# 券面事項入力補助 (holds the My Number), 券面事項確認 (face images), and the third My Number AP.
MY_NUMBER_INPUT_AP = bytes.fromhex("D3921000310001010408")
MY_NUMBER_FACE_AP = bytes.fromhex("D3921000310001010402")
MY_NUMBER_OTHER_AP = bytes.fromhex("D3921000310001010100")
FORBIDDEN_APS = (MY_NUMBER_INPUT_AP, MY_NUMBER_FACE_AP, MY_NUMBER_OTHER_AP)

EF_AUTH_CERT = 0x000A
EF_AUTH_CA_CERT = 0x000B
EF_AUTH_KEY = 0x0017
EF_AUTH_PIN = 0x0018
# Signing-certificate side: named only so tests can prove they are refused.
EF_SIGN_CERT = 0x0001
EF_SIGN_PIN = 0x001B

SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

CHUNK = 256
# READ BINARY offsets live in P1/P2 with bit 8 of P1 clear.
MAX_OFFSET = 0x7FFF
_BLOCKED = (
    0x63C0,
    StatusWord.AUTH_METHOD_BLOCKED,
    StatusWord.REFERENCE_DATA_UNUSABLE,
)
# Answers to SELECT JPKI AP that mean "no such application here" rather than a card fault.
_NOT_JPKI = (
    StatusWord.FILE_NOT_FOUND,
    StatusWord.WRONG_P1P2,
    StatusWord.FUNCTION_NOT_SUPPORTED,
    StatusWord.INS_NOT_SUPPORTED,
    StatusWord.CLA_NOT_SUPPORTED,
)


def digest_info_sha256(digest: bytes) -> bytes:
    if len(digest) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, got {len(digest)}")
    return SHA256_DIGEST_INFO_PREFIX + digest


def select_ap_apdu() -> Apdu:
    return Apdu(0x00, INS_SELECT, 0x04, 0x0C, JPKI_AP)


def select_ef_apdu(fid: int) -> Apdu:
    return Apdu(0x00, INS_SELECT, 0x02, 0x0C, fid.to_bytes(2, "big"))


def read_binary_apdu(offset: int, length: int) -> Apdu:
    return Apdu(0x00, INS_READ_BINARY, offset >> 8, offset & 0xFF, le=length)


def verify_apdu(pin: str | None) -> Apdu:
    return Apdu(0x00, INS_VERIFY, 0x00, 0x80, pin.encode("ascii") if pin else b"")


def sign_apdu(digest_info: bytes) -> Apdu:
    return Apdu(0x80, INS_COMPUTE_SIGNATURE, 0x00, 0x80, digest_info, le=256)


def is_pin_format(pin: str) -> bool:
    # str.isdigit() would accept full-width and other Unicode digits the card cannot take.
    return len(pin) == 4 and all("0" <= c <= "9" for c in pin)


class JpkiSession:
    """Plain methods over the JPKI AP that send the minimum APDU sequence:
    SELECT AP, SELECT 000A, READ×n, SELECT 0018, VERIFY(empty), VERIFY(pin), SELECT 0017, SIGN."""

    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection
        self.apdu_headers: list[str] = []
        self._ap_selected = False
        self._selected_ef: int | None = None
        self._verified = False

    def _send(self, apdu: Apdu) -> tuple[bytes, int]:
        self.apdu_headers.append(apdu.header())
        return self.connection.transmit(apdu.to_bytes())

    def select_ap(self) -> None:
        if self._ap_selected:
            return
        data, sw = self._send(select_ap_apdu())
        if sw in _NOT_JPKI:
            raise NotAJpkiCard()
        if sw != StatusWord.OK:
            raise CardError(sw, data)
        self._ap_selected = True

    def _select_ef(self, fid: int) -> None:
        self.select_ap()
        if self._selected_ef == fid:
            return
        self._selected_ef = None
        data, sw = self._send(select_ef_apdu(fid))
        if sw != StatusWord.OK:
            raise CardError(sw, data)
        self._selected_ef = fid

    def _read_der(self, fid: int) -> bytes:
        self._select_ef(fid)
        # One 256-byte read gives the DER header and the first chunk together.
        first = self._read(0, CHUNK)
        if len(first) < 4 or first[:2] != b"\x30\x82":
            raise CardError(
                StatusWord.OK,
                first[:4],
                "証明書の形式が不正です / certificate does not start with 30 82",
            )
        total = int.from_bytes(first[2:4], "big") + 4
        if total > MAX_OFFSET + 1:
            raise CardError(StatusWord.OK, first[:4], f"certificate too large: {total} bytes")
        der = bytearray(first[:total])
        while len(der) < total:
            chunk = self._read(len(der), min(CHUNK, total - len(der)))
            if not chunk:
                raise CardError(StatusWord.OK, b"", "READ BINARY returned no data")
            der += chunk[: total - len(der)]
        return bytes(der)

    def _read(self, offset: int, length: int) -> bytes:
        data, sw = self._send(read_binary_apdu(offset, length))
        if sw != StatusWord.OK:
            raise CardError(sw, data)
        return data

    def read_auth_certificate(self) -> bytes:
        return self._read_der(EF_AUTH_CERT)

    def read_auth_ca_certificate(self) -> bytes:
        return self._read_der(EF_AUTH_CA_CERT)

    def pin_tries_left(self) -> int:
        self._select_ef(EF_AUTH_PIN)
        data, sw = self._send(verify_apdu(None))
        if sw in _BLOCKED:
            return 0
        tries = pin_tries(sw)
        if tries is not None:
            return tries
        if sw == StatusWord.OK:
            return 3
        raise CardError(sw, data)

    def verify_pin(self, pin: str) -> None:
        if not is_pin_format(pin):
            raise PinFormatError()
        self._select_ef(EF_AUTH_PIN)
        self._verified = False
        data, sw = self._send(verify_apdu(pin))
        if sw == StatusWord.OK:
            self._verified = True
            return
        if sw in _BLOCKED:
            raise PinBlocked()
        tries = pin_tries(sw)
        if tries is not None:
            raise WrongPin(tries)
        raise CardError(sw, data)

    def sign(self, digest_info: bytes) -> bytes:
        if not self._verified:
            raise ReaderError(
                "暗証番号の照合前に署名はできません", "signing requires a verified PIN first"
            )
        if not 0 < len(digest_info) <= 255:
            raise ValueError(f"DigestInfo length out of range: {len(digest_info)}")
        self._select_ef(EF_AUTH_KEY)
        data, sw = self._send(sign_apdu(digest_info))
        if sw != StatusWord.OK:
            raise CardError(sw, data)
        return data
