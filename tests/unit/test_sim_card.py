"""The emulated JPKI card, driven through its APDU handler (no pcscd).

`sim_pki` is the session PKI from tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sim.card import ATR, JPKI_AID, CardError, VirtualCard
from sim.pki import PkiPaths
from sync.identifiers import is_valid_my_number

SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
SELECT_JPKI = "00A4040C0A" + JPKI_AID.hex()
MY_NUMBER_HELPER = "D3921000310001010408"


def make_card(pki: PkiPaths, tmp_path: Path, person_id: str = "P001", **kw: object) -> VirtualCard:
    return VirtualCard(
        person_id, pki, state_dir=tmp_path / "state", audit_path=tmp_path / "audit.jsonl", **kw
    )  # type: ignore[arg-type]


def tx(card: VirtualCard, apdu_hex: str) -> tuple[bytes, str]:
    response = card.transmit(bytes.fromhex(apdu_hex))
    return response[:-2], response[-2:].hex().upper()


def select_ef(card: VirtualCard, fid: str) -> str:
    return tx(card, f"00A4020C02{fid}")[1]


def read_certificate(card: VirtualCard) -> bytes:
    head, sw = tx(card, "00B0000004")
    assert sw == "9000" and head[:2] == b"\x30\x82"
    size = int.from_bytes(head[2:4], "big") + 4
    data = b""
    while len(data) < size:
        chunk, sw = tx(card, f"00B0{len(data):04X}{min(256, size - len(data)) % 256:02X}")
        assert sw == "9000"
        data += chunk
    return data[:size]


def digest_info(message: bytes) -> bytes:
    return SHA256_PREFIX + hashlib.sha256(message).digest()


def sign_apdu(di: bytes) -> str:
    return f"802A0080{len(di):02X}{di.hex()}00"


def audit_lines(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_control_frames(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    assert card.respond(b"\x04") == ATR
    assert card.respond(b"\x01") is None
    assert card.respond(b"\x00") is None


def test_reads_the_auth_certificate_in_chunks(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    assert tx(card, SELECT_JPKI)[1] == "9000"
    assert select_ef(card, "000A") == "9000"
    cert = read_certificate(card)
    assert cert == sim_pki.card_cert("P001").read_bytes()
    padded, sw = tx(card, f"00B0{len(cert):04X}10")
    assert sw == "9000" and padded == b"\xff" * 16
    assert tx(card, "00B07FFF01")[1] == "6B00"


def test_reads_the_jpki_root(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    tx(card, SELECT_JPKI)
    select_ef(card, "000B")
    root = x509.load_der_x509_certificate(read_certificate(card))
    assert root == x509.load_pem_x509_certificate(sim_pki.jpki_root_cert.read_bytes())


def test_selection_errors(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    assert select_ef(card, "000A") == "6A82"  # no application selected yet
    assert tx(card, "00A4040C0AD392F000260100000099")[1] == "6A82"
    tx(card, SELECT_JPKI)
    assert select_ef(card, "0042") == "6A82"
    assert tx(card, "00A4010C02000A")[1] == "6A86"
    assert tx(card, "00CA000000")[1] == "6D00"
    assert select_ef(card, "0017") == "9000"
    assert tx(card, "00B0000004")[1] == "6981"  # the private key is never readable


def test_pin_counter_wrong_then_right(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    tx(card, SELECT_JPKI)
    select_ef(card, "0018")
    assert tx(card, "00200080")[1] == "63C3"
    assert tx(card, "002000800439393939")[1] == "63C2"
    # The counter lives in state_dir, like on the card: a new session sees 2.
    again = make_card(sim_pki, tmp_path)
    tx(again, SELECT_JPKI)
    select_ef(again, "0018")
    assert tx(again, "00200080")[1] == "63C2"
    assert tx(again, "002000800431323334")[1] == "9000"
    assert tx(again, "00200080")[1] == "63C3"
    state = json.loads((tmp_path / "state" / "pin-P001.json").read_text())
    assert state == {"tries_left": 3}


def test_one_try_left_then_blocked(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path, "P021")
    tx(card, SELECT_JPKI)
    select_ef(card, "0018")
    assert tx(card, "00200080")[1] == "63C1"
    assert tx(card, "002000800430303030")[1] == "63C0"
    assert tx(card, "00200080")[1] == "6983"
    assert tx(card, "002000800431323334")[1] == "6983"  # even the right PIN


def test_blocked_card(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path, "P022")
    tx(card, SELECT_JPKI)
    select_ef(card, "0018")
    assert tx(card, "00200080")[1] == "6983"
    assert tx(card, "002000800431323334")[1] == "6983"


def test_pin_override(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path, pin="8642")
    tx(card, SELECT_JPKI)
    select_ef(card, "0018")
    assert tx(card, "002000800438363432")[1] == "9000"


def test_sign_after_verify(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    message = b"nonce and visit context"
    tx(card, SELECT_JPKI)
    select_ef(card, "0018")
    assert tx(card, "002000800431323334")[1] == "9000"
    select_ef(card, "0017")
    signature, sw = tx(card, sign_apdu(digest_info(message)))
    assert sw == "9000" and len(signature) == 256
    public = x509.load_der_x509_certificate(sim_pki.card_cert("P001").read_bytes()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_sign_needs_pin_and_key_ef(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    di = digest_info(b"x")
    tx(card, SELECT_JPKI)
    select_ef(card, "0017")
    assert tx(card, sign_apdu(di))[1] == "6982"  # no PIN yet
    select_ef(card, "0018")
    tx(card, "002000800431323334")
    assert tx(card, sign_apdu(di))[1] == "6982"  # PIN EF selected, not the key
    tx(card, SELECT_JPKI)  # re-selecting the application forgets the PIN
    select_ef(card, "0017")
    assert tx(card, sign_apdu(di))[1] == "6982"
    select_ef(card, "0018")
    tx(card, "002000800430303030")  # a wrong PIN also forgets it
    select_ef(card, "0017")
    assert tx(card, sign_apdu(di))[1] == "6982"


def test_my_number_applications_exist_and_are_flagged(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    for aid in (MY_NUMBER_HELPER, "D3921000310001010402", "D3921000310001010100"):
        assert tx(card, f"00A4040C0A{aid}")[1] == "9000"
    tx(card, f"00A4040C0A{MY_NUMBER_HELPER}")
    assert select_ef(card, "0001") == "9000"
    data, sw = tx(card, "00B0000000")
    assert sw == "9000" and is_valid_my_number(data.decode())
    lines = audit_lines(tmp_path)
    assert len(lines) == 6 and all(line["forbidden"] for line in lines)
    assert all(line["person"] == "P001" for line in lines)


def test_signing_certificate_reads_are_flagged(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    tx(card, SELECT_JPKI)
    assert select_ef(card, "0001") == "9000"
    data, sw = tx(card, "00B0000010")
    assert sw == "9000" and data[:2] == b"\x30\x82"
    assert select_ef(card, "001B") == "9000"
    assert tx(card, "00200080")[1] == "63C5"
    assert [line["forbidden"] for line in audit_lines(tmp_path)] == [False, True, True, True, True]


def test_audit_of_a_normal_visit_masks_the_pin(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    tx(card, SELECT_JPKI)
    select_ef(card, "000A")
    tx(card, "00B0000004")
    select_ef(card, "0018")
    tx(card, "00200080")
    tx(card, "002000800431323334")
    select_ef(card, "0017")
    tx(card, sign_apdu(digest_info(b"m")))
    lines = audit_lines(tmp_path)
    assert len(lines) == 8
    assert not any(line["forbidden"] for line in lines)
    assert lines[5]["apdu"] == "0020008004********"
    assert "31323334" not in (tmp_path / "audit.jsonl").read_text()


def test_wait_for_apdus_counts_answered_commands(sim_pki: PkiPaths, tmp_path: Path) -> None:
    card = make_card(sim_pki, tmp_path)
    assert not card.wait_for_apdus(1, timeout=0)
    card.respond(b"\x04")  # control frames are not APDUs
    card.respond(bytes.fromhex(SELECT_JPKI))
    assert card.wait_for_apdus(1, timeout=0)
    assert not card.wait_for_apdus(2, timeout=0)


def test_person_without_a_card(sim_pki: PkiPaths, tmp_path: Path) -> None:
    with pytest.raises(CardError, match="P025"):
        make_card(sim_pki, tmp_path, "P025")


def test_vpcd_framing_and_quiet_exit_when_vpcd_closes(sim_pki: PkiPaths, tmp_path: Path) -> None:
    """A loopback stand-in for vpcd (not pcscd): length-prefixed frames both ways."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    card = make_card(sim_pki, tmp_path, port=port)
    card.insert()
    conn, _ = listener.accept()
    listener.close()
    with conn:

        def exchange(payload: bytes) -> bytes:
            conn.sendall(len(payload).to_bytes(2, "big"))  # vpcd writes length and body apart
            conn.sendall(payload)
            size = int.from_bytes(conn.recv(2), "big")
            data = b""
            while len(data) < size:
                data += conn.recv(size - len(data))
            return data

        conn.sendall(b"\x00\x01\x01")  # power on: no answer due
        assert exchange(b"\x04") == ATR
        assert exchange(bytes.fromhex(SELECT_JPKI)) == b"\x90\x00"
        assert card.wait_for_apdus(1, timeout=2)
    deadline = time.monotonic() + 2
    while card.inserted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not card.inserted  # vpcd closed: the card thread ended by itself
    card.remove()
