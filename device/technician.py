"""`onshi card info` and `onshi card check`: the card path from a terminal, for technicians."""

from __future__ import annotations

import getpass
import json
import sys
from typing import TextIO

from cryptography import x509

from device.cardtrust import CardTrust, CardUntrusted
from device.config import Config
from device.confirm import Confirmations
from device.events import EventBus
from device.flow import ActiveVisit, VisitFlow, VisitState
from device.inputs import VisitInput
from device.parts import card_trust, connect_central, open_store, reader_backend
from reader.backend import CardReaders
from reader.errors import NoReader
from reader.guard import GuardedConnection
from reader.jpki import JpkiSession
from sync.clock import utc_now
from sync.codes import Verdict, verdict

# The terminal report's own word for each verdict, as the desk shows it (web/labels.py Badge;
# tests/unit/test_words.py keeps the two the same).
VERDICT_JA: dict[Verdict, str] = {
    Verdict.VALID: "有効",
    Verdict.INVALID: "無効",
    Verdict.INVALID_NEWER: "無効（新しい資格あり）",
    Verdict.NOT_FOUND: "該当資格なし",
    Verdict.MULTIPLE: "複数該当",
    Verdict.UNREGISTERED_AID: "有効（未登録）",
    Verdict.ERROR: "エラー",
    Verdict.OFFLINE: "本人確認済・オンライン未確認",
}


def find_card_reader(readers: CardReaders, name_filter: str) -> str:
    """The first reader matching the filter that holds a card."""
    names = [r for r in readers.list_readers() if name_filter in r]
    if not names:
        raise NoReader(
            f"カードリーダーが見つかりません / no reader matches {name_filter!r}"
            if name_filter
            else "カードリーダーが見つかりません / no card reader found"
        )
    for name in names:
        if readers.card_present(name):
            return name
    raise NoReader("カードが置かれていません / no card on " + ", ".join(names))


def card_info(config: Config, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    # The root file is read first: a bad one stops here (exit 78) before the card is touched.
    trust = card_trust(config, utc_now)
    readers = reader_backend(config).open_readers()
    try:
        reader = find_card_reader(readers, config.reader)
        connection = readers.connect(reader)
        try:
            session = JpkiSession(GuardedConnection(connection))
            der = session.read_auth_certificate()
        finally:
            connection.close()
    finally:
        readers.close()
    cert = x509.load_der_x509_certificate(der)
    info = {
        "reader": reader,
        "serial": format(cert.serial_number, "X"),
        "issuer": cert.issuer.rfc4514_string(),
        "subject": cert.subject.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "certificate_bytes": len(der),
        # Whether the box itself trusts it (jpki_root_file), as it must while the central is
        # unreachable: "trusted", or why not (device.cardtrust.CardTrustProblem).
        "jpki_root": _offline_trust(trust, der),
        "apdus": session.apdu_headers,
    }
    if as_json:
        json.dump(info, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        for key, value in info.items():
            if key == "apdus":
                out.write(f"{'apdus':<18} {len(session.apdu_headers)}\n")
                for header in session.apdu_headers:
                    out.write(f"{'':<18} {header}\n")
            else:
                out.write(f"{key:<18} {value}\n")
    return 0


def _offline_trust(trust: CardTrust, der: bytes) -> str:
    try:
        trust.check(der)
    except CardUntrusted as exc:
        return exc.problem.value
    return "trusted"


class TerminalPins:
    """PINs typed at the terminal (hidden when it is a TTY), one line per request. The
    technician's check asks nothing else: no consent screen, no staff on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def wait(self, visit: ActiveVisit, step: str, timeout: float) -> VisitInput | None:
        if step != "pin":
            return None
        prompt = f"暗証番号 / PIN (残り {visit.tries_left} 回 / tries left): "
        if visit.tries_left == 1:
            print(
                "注意: 残り1回です。間違えるとロックされます / "
                "warning: one try left; a wrong PIN locks the card",
                file=sys.stderr,
            )
        if self._stream.isatty():
            return getpass.getpass(prompt)
        print(prompt, file=sys.stderr, end="", flush=True)
        line = self._stream.readline()
        print(file=sys.stderr)
        return line.strip() if line else None

    def submit(self, visit_id: str, value: VisitInput) -> bool:
        return False  # everything comes from the terminal itself

    def cancel(self, visit_id: str) -> None:
        pass


def card_check(config: Config, stdin: TextIO, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    readers = reader_backend(config).open_readers()
    store = open_store(config)
    central = connect_central(config)
    try:
        reader = find_card_reader(readers, config.reader)
        bus = EventBus()  # nobody listens on a terminal
        flow = VisitFlow(
            medical_institution_code=config.medical_institution_code,
            connect=readers.connect,
            confirmations=Confirmations(transport=central, store=store, bus=bus),
            store=store,
            bus=bus,
            inputs=TerminalPins(stdin),
            pin_timeout_s=config.pin_timeout_s,
        )
        outcome = flow.run_visit(reader)
    finally:
        central.close()
        readers.close()
        store.close()
    report: dict[str, object] = {
        "visit": outcome.visit_id,
        "state": outcome.state.value,
        "apdus": outcome.timings.apdus,
        "card_io_ms": round(outcome.timings.card_io_s * 1000, 1),
        "central_ms": round(outcome.timings.central_s * 1000, 1),
        "total_ms": round(outcome.timings.total_s * 1000, 1),
    }
    if outcome.confirmation is not None:
        result = outcome.confirmation.result
        found = verdict(result)
        report.update(
            badge=found.name,
            badge_ja=VERDICT_JA[found],
            validity=result.validity,
            message=result.processing_message or result.error_message,
            error_code=result.error_code,
        )
    else:
        report.update(reason=outcome.reason)
    if as_json:
        json.dump(report, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        for key, value in report.items():
            out.write(f"{key:<12} {value}\n")
    return 0 if outcome.state is VisitState.DONE else 1
