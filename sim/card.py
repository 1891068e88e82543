"""An emulated My Number card (JPKI) that plugs into pcscd through the vpcd driver.

The card is a TCP client of vpcd: connected means inserted. Frames both ways are a 2-byte
big-endian length and a payload; a 1-byte payload is a control code, anything longer a
command APDU (DOMAIN.md §5, §6). The APDU logic (`respond`) needs no socket, so tests can
drive it directly. Every APDU is written to an audit file, flagged when the appliance should
never have sent it (anything touching the My Number or the signing certificate).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sim.pki import PkiPaths
from sim.population import person
from sim.stopsignal import stop_on_sigterm

ATR = bytes.fromhex("3BE000FF8131FE4514")
JPKI_AID = bytes.fromhex("D392F000260100000001")
MY_NUMBER_AIDS = {
    bytes.fromhex("D3921000310001010408"): "券面事項入力補助AP / card-face input helper AP",
    bytes.fromhex("D3921000310001010402"): "券面事項確認AP / card-face verification AP",
    bytes.fromhex("D3921000310001010100"): "個人番号関連AP / My Number related AP",
}
MY_NUMBER_HELPER_AID = bytes.fromhex("D3921000310001010408")

EF_AUTH_CERT = 0x000A
EF_AUTH_CA = 0x000B
EF_AUTH_KEY = 0x0017
EF_AUTH_PIN = 0x0018
EF_SIGN_CERT = 0x0001
EF_SIGN_CA = 0x0002
EF_SIGN_KEY = 0x001A
EF_SIGN_PIN = 0x001B
EF_MY_NUMBER = 0x0001  # inside the 券面事項入力補助 AP
FORBIDDEN_EFS = {EF_SIGN_CERT, EF_SIGN_CA, EF_SIGN_KEY, EF_SIGN_PIN}

EF_SIZE = 4096  # the EF is larger than what it holds: readers must parse the DER length
PIN_TRIES = 3
SIGN_PIN_TRIES = 5
SIGN_PIN = "ABC123"  # fixed: the appliance never verifies it; exists so an attempt is visible
DIGEST_INFO_MAX = 256 - 11  # PKCS#1 v1.5 needs at least 11 bytes of padding

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_INCOMPATIBLE = 0x6981
SW_SECURITY = 0x6982
SW_BLOCKED = 0x6983
SW_WRONG_P1P2 = 0x6A86
SW_NOT_FOUND = 0x6A82
SW_WRONG_OFFSET = 0x6B00
SW_UNKNOWN_INS = 0x6D00
SW_UNKNOWN_CLA = 0x6E00

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20
INS_SIGN = 0x2A

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_GET_ATR = 0x04


class CardError(Exception):
    """The card cannot be built or inserted (no card for this person, vpcd not listening)."""


@dataclass
class _Applet:
    aid: bytes
    files: dict[int, bytes]  # readable EFs; key and PIN EFs exist but are not readable


@dataclass(frozen=True)
class _Verdict:
    forbidden: bool
    why: str


class VirtualCard:
    def __init__(
        self,
        person_id: str,
        pki: PkiPaths,
        state_dir: Path,
        port: int = 35963,
        host: str = "127.0.0.1",
        audit_path: Path | None = None,
        pin: str | None = None,
        delay_s: float = 0.0,
        pull_at_apdu: int | None = None,
    ) -> None:
        holder = person(person_id)
        if holder.card_status == "none":
            raise CardError(
                f"{person_id} はマイナンバーカードを持っていません / {person_id} has no card"
            )
        cert_path = pki.card_cert(person_id)
        if not cert_path.exists():
            raise CardError(f"{cert_path} がありません (build_pki) / missing: run build_pki")
        self.person_id = person_id
        self.host = host
        self.port = port
        self.audit_path = audit_path
        self.delay_s = delay_s
        # For drills: the card leaves the reader when this command APDU (1-based, counted
        # from insert()) arrives, before answering it, as if pulled in the middle of it.
        self.pull_at_apdu = pull_at_apdu
        self._pin = holder.pin if pin is None else pin
        self._state_file = state_dir / f"pin-{person_id}.json"
        state_dir.mkdir(parents=True, exist_ok=True)
        self._tries = self._load_tries(holder.pin_tries_left)
        self._sign_tries = SIGN_PIN_TRIES
        key = serialization.load_pem_private_key(
            pki.card_key(person_id).read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CardError("カードの鍵が RSA ではありません / card key is not RSA")
        self._key = key.private_numbers()
        root_der = x509.load_pem_x509_certificate(pki.jpki_root_cert.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        self._applets = {
            JPKI_AID: _Applet(
                JPKI_AID,
                {
                    EF_AUTH_CERT: _pad(cert_path.read_bytes()),
                    EF_AUTH_CA: _pad(root_der),
                    EF_SIGN_CERT: _pad(_fake_signing_certificate()),
                },
            ),
            MY_NUMBER_HELPER_AID: _Applet(
                MY_NUMBER_HELPER_AID, {EF_MY_NUMBER: fake_my_number(person_id).encode()}
            ),
        }
        self._internal_efs = {EF_AUTH_KEY, EF_AUTH_PIN, EF_SIGN_KEY, EF_SIGN_PIN, EF_SIGN_CA}
        self._applet: _Applet | None = None
        self._ef: int | None = None
        self._pin_verified = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._count = 0
        self._count_changed = threading.Condition()

    # -- APDU logic (no I/O besides the PIN counter file and the audit log) --

    def respond(self, payload: bytes) -> bytes | None:
        """Answer one vpcd frame: control codes (None when no answer is due) or an APDU."""
        if len(payload) == 1:
            code = payload[0]
            if code == CTRL_GET_ATR:
                return ATR
            if code in (CTRL_POWER_OFF, CTRL_POWER_ON, CTRL_RESET):
                self._reset_state()
            return None
        response = self.transmit(payload)
        with self._count_changed:
            self._count += 1
            self._count_changed.notify_all()
        return response

    def transmit(self, apdu: bytes) -> bytes:
        """One command APDU → response APDU (data + SW1 SW2)."""
        verdict = self._classify(apdu)
        self._audit(apdu, verdict)
        if self.delay_s:
            time.sleep(self.delay_s)
        data, sw = self._execute(apdu)
        return data + sw.to_bytes(2, "big")

    @property
    def pin_tries_left(self) -> int:
        return self._tries

    def _reset_state(self) -> None:
        self._applet = None
        self._ef = None
        self._pin_verified = False

    def _execute(self, apdu: bytes) -> tuple[bytes, int]:
        if len(apdu) < 4:
            return b"", SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        if cla not in (0x00, 0x80):
            return b"", SW_UNKNOWN_CLA
        if ins == INS_SELECT and cla == 0x00:
            return self._select(p1, _command_data(body))
        if ins == INS_READ_BINARY and cla == 0x00:
            return self._read_binary(p1, p2, body)
        if ins == INS_VERIFY and cla == 0x00:
            if (p1, p2) != (0x00, 0x80):
                return b"", SW_WRONG_P1P2
            return self._verify(_command_data(body))
        if ins == INS_SIGN and cla == 0x80:
            if (p1, p2) != (0x00, 0x80):
                return b"", SW_WRONG_P1P2
            return self._sign(_command_data(body))
        return b"", SW_UNKNOWN_INS

    def _select(self, p1: int, data: bytes | None) -> tuple[bytes, int]:
        if data is None:
            return b"", SW_WRONG_LENGTH
        if p1 == 0x04:
            if data == JPKI_AID or data in self._applets or data in MY_NUMBER_AIDS:
                # Re-selecting an application forgets a verified PIN.
                self._applet = self._applets.get(data, _Applet(data, {}))
                self._ef = None
                self._pin_verified = False
                return b"", SW_OK
            return b"", SW_NOT_FOUND
        if p1 == 0x02:
            if self._applet is None or len(data) != 2:
                return b"", SW_NOT_FOUND
            fid = int.from_bytes(data, "big")
            known = set(self._applet.files)
            if self._applet.aid == JPKI_AID:
                known |= self._internal_efs
            if fid not in known:
                return b"", SW_NOT_FOUND
            self._ef = fid
            return b"", SW_OK
        return b"", SW_WRONG_P1P2

    def _read_binary(self, p1: int, p2: int, body: bytes) -> tuple[bytes, int]:
        if self._applet is None or self._ef is None:
            return b"", SW_NOT_FOUND
        content = self._applet.files.get(self._ef)
        if content is None:
            return b"", SW_INCOMPATIBLE  # key and PIN EFs can never be read
        offset = ((p1 & 0x7F) << 8) | p2
        if offset >= len(content):
            return b"", SW_WRONG_OFFSET
        le = body[0] if len(body) == 1 else 0
        length = le or 256
        return content[offset : offset + length], SW_OK

    def _verify(self, pin: bytes | None) -> tuple[bytes, int]:
        if self._applet is None or self._applet.aid != JPKI_AID:
            return b"", SW_NOT_FOUND
        if self._ef == EF_SIGN_PIN:
            return self._verify_sign_pin(pin)
        if self._ef != EF_AUTH_PIN:
            return b"", SW_NOT_FOUND
        if self._tries <= 0:
            return b"", SW_BLOCKED
        if pin is None:
            return b"", 0x63C0 | self._tries
        if pin == self._pin.encode("ascii"):
            self._pin_verified = True
            if self._tries != PIN_TRIES:
                self._store_tries(PIN_TRIES)
            return b"", SW_OK
        self._pin_verified = False
        self._store_tries(self._tries - 1)
        return b"", 0x63C0 | self._tries

    def _verify_sign_pin(self, pin: bytes | None) -> tuple[bytes, int]:
        if self._sign_tries <= 0:
            return b"", SW_BLOCKED
        if pin is None:
            return b"", 0x63C0 | self._sign_tries
        if pin == SIGN_PIN.encode("ascii"):
            self._sign_tries = SIGN_PIN_TRIES
            return b"", SW_OK
        self._sign_tries -= 1
        return b"", 0x63C0 | self._sign_tries

    def _sign(self, digest_info: bytes | None) -> tuple[bytes, int]:
        if self._applet is None or self._applet.aid != JPKI_AID or self._ef != EF_AUTH_KEY:
            return b"", SW_SECURITY
        if not self._pin_verified:
            return b"", SW_SECURITY
        if not digest_info or len(digest_info) > DIGEST_INFO_MAX:
            return b"", SW_WRONG_LENGTH
        n = self._key.public_numbers.n
        size = (n.bit_length() + 7) // 8
        # PKCS#1 v1.5 type 1 padding, then the raw RSA private operation.
        block = b"\x00\x01" + b"\xff" * (size - 3 - len(digest_info)) + b"\x00" + digest_info
        signature = _rsa_private(self._key, int.from_bytes(block, "big"))
        return signature.to_bytes(size, "big"), SW_OK

    # -- the audit log: every APDU, PIN digits masked, forbidden ones flagged --

    def _classify(self, apdu: bytes) -> _Verdict:
        if len(apdu) < 4:
            return _Verdict(True, "短すぎるAPDU / APDU too short")
        cla, ins, p1, _ = apdu[:4]
        data = _command_data(apdu[4:]) or b""
        current = self._applet.aid if self._applet else None
        if cla == 0x00 and ins == INS_SELECT and p1 == 0x04:
            if data in MY_NUMBER_AIDS:
                return _Verdict(True, f"SELECT {MY_NUMBER_AIDS[data]}")
            if data == JPKI_AID:
                return _Verdict(False, "SELECT JPKI AP")
            return _Verdict(True, "SELECT 不明なAP / unknown AP")
        if current != JPKI_AID:
            return _Verdict(True, "JPKI AP 以外での操作 / command outside the JPKI AP")
        if cla == 0x00 and ins == INS_SELECT and p1 == 0x02:
            fid = int.from_bytes(data, "big") if len(data) == 2 else -1
            if fid in FORBIDDEN_EFS:
                return _Verdict(True, f"SELECT EF {fid:04X} (署名用 / signing)")
            if fid in (EF_AUTH_CERT, EF_AUTH_CA, EF_AUTH_KEY, EF_AUTH_PIN):
                return _Verdict(False, f"SELECT EF {fid:04X}")
            return _Verdict(True, "SELECT 不明なEF / unknown EF")
        ef = self._ef
        if cla == 0x00 and ins == INS_READ_BINARY:
            if ef in (EF_AUTH_CERT, EF_AUTH_CA):
                return _Verdict(False, f"READ BINARY EF {ef:04X}")
            return _Verdict(True, f"READ BINARY EF {ef if ef is not None else -1:04X}")
        if cla == 0x00 and ins == INS_VERIFY:
            if ef == EF_AUTH_PIN:
                return _Verdict(False, "VERIFY 利用者証明用PIN / auth PIN")
            return _Verdict(True, "VERIFY 署名用/不明なPIN / signing or unknown PIN")
        if cla == 0x80 and ins == INS_SIGN and ef == EF_AUTH_KEY:
            return _Verdict(False, "SIGN 利用者証明用鍵 / auth key")
        return _Verdict(True, f"許可されていない命令 / command not allowed ({cla:02X} {ins:02X})")

    def _audit(self, apdu: bytes, verdict: _Verdict) -> None:
        if self.audit_path is None:
            return
        shown = apdu.hex().upper()
        if len(apdu) > 5 and apdu[1] == INS_VERIFY:
            shown = apdu[:5].hex().upper() + "**" * (len(apdu) - 5)
        line = {
            "t": time.time(),
            "person": self.person_id,
            "apdu": shown,
            "forbidden": verdict.forbidden,
            "why": verdict.why,
        }
        with self.audit_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")

    # -- the PIN counter survives runs, like on a real card --

    def _load_tries(self, initial: int) -> int:
        try:
            return int(json.loads(self._state_file.read_text())["tries_left"])
        except FileNotFoundError:
            return initial
        except (ValueError, KeyError, TypeError) as e:
            raise CardError(f"{self._state_file}: 読めません / unreadable ({e})") from e

    def _store_tries(self, tries: int) -> None:
        self._tries = tries
        tmp = self._state_file.with_name(f".{self._state_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"tries_left": tries}))
        os.replace(tmp, self._state_file)

    # -- vpcd transport --

    def insert(self) -> None:
        """Connect to vpcd (card present); frames are served on a background thread."""
        if self._thread is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), timeout=5)
        except OSError as e:
            raise CardError(
                f"vpcd ({self.host}:{self.port}) に接続できません / cannot reach vpcd: {e}"
            ) from e
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        with self._count_changed:
            self._count = 0
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"vpcd-{self.person_id}", daemon=True
        )
        self._thread.start()

    def remove(self) -> None:
        """Disconnect (card gone) and wait for the serving thread to end."""
        sock, thread = self._sock, self._thread
        self._sock = self._thread = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # vpcd already closed its end
        if thread is not None:
            thread.join(timeout=5)
        if sock is not None:
            sock.close()
        self._reset_state()

    @property
    def inserted(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_for_apdus(self, n: int, timeout: float) -> bool:
        """True once n command APDUs have been answered since insert()."""
        with self._count_changed:
            return self._count_changed.wait_for(lambda: self._count >= n, timeout)

    def serve_forever(self) -> None:
        """Stay inserted until Ctrl-C, SIGTERM or vpcd closing the connection."""
        stop = threading.Event()
        with stop_on_sigterm(stop):
            self.insert()
            try:
                while not stop.is_set() and self.inserted:
                    stop.wait(0.2)
            except KeyboardInterrupt:
                pass
            finally:
                self.remove()

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                header = _recv_exact(sock, 2)
                if header is None:
                    return
                payload = _recv_exact(sock, int.from_bytes(header, "big"))
                if payload is None:
                    return
                if len(payload) > 1 and self._count + 1 == self.pull_at_apdu:
                    return  # pulled: the connection closes unanswered (vpcd sees no card)
                answer = self.respond(payload)
                if answer is not None:
                    sock.sendall(len(answer).to_bytes(2, "big") + answer)
        except OSError:
            return  # vpcd went away or remove() shut the socket: the card is simply gone
        finally:
            sock.close()

    def __enter__(self) -> VirtualCard:
        self.insert()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


def _rsa_private(key: rsa.RSAPrivateNumbers, m: int) -> int:
    """Raw RSA with the CRT (about four times faster than pow(m, d, n))."""
    m1 = pow(m, key.dmp1, key.p)
    m2 = pow(m, key.dmq1, key.q)
    h = (key.iqmp * (m1 - m2)) % key.p
    return m2 + h * key.q


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    """n bytes, or None when the peer closed. QUICKACK is re-armed before every recv:
    vpcd writes length and payload separately, and delayed ACKs would stall each APDU."""
    buf = b""
    while len(buf) < n:
        if hasattr(socket, "TCP_QUICKACK"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _command_data(body: bytes) -> bytes | None:
    """Lc-prefixed command data of a short APDU (case 3/4); None for case 1/2 (no data)."""
    if len(body) <= 1:
        return None
    lc = body[0]
    data = body[1 : 1 + lc]
    return data if len(data) == lc else None


def _pad(content: bytes) -> bytes:
    return content + b"\xff" * (max(EF_SIZE, len(content)) - len(content))


def _fake_signing_certificate() -> bytes:
    """DER-shaped stand-in for the signing certificate (fake name and address inside)."""
    fields = ["署名用電子証明書 (模擬)", "氏名 見本 太郎", "住所 東京都千代田区霞が関0-0-0"]
    inner = b"".join(b"\x0c" + bytes([len(f.encode())]) + f.encode() for f in fields)
    return b"\x30\x82" + len(inner).to_bytes(2, "big") + inner


def fake_my_number(person_id: str) -> str:
    """A 12-digit number with a valid check digit (DOMAIN §2), derived from the person id."""
    digits = f"{int(person_id[1:]) * 7919 + 31415926:011d}"[-11:]
    total = 0
    for n, char in enumerate(reversed(digits), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(char) * weight
    remainder = total % 11
    check = 0 if remainder <= 1 else 11 - remainder
    return digits + str(check)
