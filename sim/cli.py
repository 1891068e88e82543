"""`python -m sim` / `onshi sim`: the simulated central service, emulated cards, the population.

Data (the test PKI, card PIN counters, the card audit log) lives in --data DIR, by default
./.demo or $ONSHI_SIM_DATA.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from sim.appointments import sample_csv
from sim.card import CardError, VirtualCard
from sim.people import DEFAULT_PIN, Person
from sim.pki import PkiPaths, build_pki
from sim.population import population
from sync.clock import JST, utc_now

DATA_ENV = "ONSHI_SIM_DATA"
DEFAULT_INSTITUTION = "1312345670"  # sim.terminal.DEFAULT_INSTITUTION, without importing it
VPCD_PORTS = {0: 35963, 1: 35964}  # 'Virtual PCD 00 00' and 'Virtual PCD 00 01'


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_ENV, ".demo"))


def pki_dir(data: Path) -> Path:
    return data / "pki"


def _pki(data: Path) -> PkiPaths:
    return build_pki(pki_dir(data), population())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onshi sim", description="シミュレータ / simulators for the demo and tests"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    data_help = f"データディレクトリ / data directory (default ${DATA_ENV} or ./.demo)"

    central = sub.add_parser("central", help="模擬中央サービス / simulated central service")
    central.add_argument("--host", default="127.0.0.1")
    central.add_argument("--port", type=int, default=8443)
    central.add_argument("--data", type=Path, default=None, help=data_help)
    central.add_argument("--latency-ms", type=int, default=0, help="added to every request")
    central.add_argument(
        "--fail-rate", type=float, default=0.0, help="fraction of requests answered 503 (0–1)"
    )
    central.add_argument(
        "--shift-jis", action="store_true", help="answer results in Shift_JIS instead of UTF-8"
    )
    _bulk_flag(central)
    _fault_flags(central, starting=True)
    central.add_argument(
        "--control-port",
        type=int,
        default=None,
        help="loopback port of the fault switches (default: --port + 1; 0: any free port)",
    )

    terminal = sub.add_parser(
        "terminal",
        help="模擬資格確認端末 (req/ → res/ folders) / simulated eligibility terminal",
    )
    terminal.add_argument(
        "--root", type=Path, required=True, help="shared root; req/ res/ face/ trash/ are made"
    )
    terminal.add_argument("--data", type=Path, default=None, help=data_help)
    terminal.add_argument(
        "--delay", type=float, default=0.2, help="seconds before each answer (default 0.2)"
    )
    terminal.add_argument(
        "--half-written", action="store_true", help="write each answer in two parts, paused"
    )
    terminal.add_argument(
        "--duplicate", action="store_true", help="write a stale answer for another id first"
    )
    terminal.add_argument("--silent", action="store_true", help="answer nothing (a hung terminal)")
    terminal.add_argument(
        "--utf-8", dest="utf8", action="store_true", help="answer in UTF-8 instead of Shift_JIS"
    )
    _bulk_flag(terminal)
    terminal.add_argument(
        "--zip-bulk", action="store_true", help="write ready bulk answers (OQSmuquc02res) as .zip"
    )
    terminal.add_argument(
        "--institution",
        default=DEFAULT_INSTITUTION,
        help=f"medical institution code of its face files (default {DEFAULT_INSTITUTION})",
    )

    face = sub.add_parser(
        "face",
        help="模擬資格確認端末の顔認証リーダーにカードを置く (face/ に結果) / place a card on the "
        "simulated terminal's own reader: it writes a face/ file",
    )
    face.add_argument("--root", type=Path, required=True, help="the running terminal's root")
    face.add_argument("--person", required=True, help="P001… (see `people`)")
    face.add_argument(
        "--no-consent", action="store_true", help="agree to no consent (default: agree to all)"
    )
    face.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds to wait for the terminal to take the card (default 5)",
    )

    control = sub.add_parser(
        "control", help="模擬中央サービスの障害切替 / switch the running simulator's faults"
    )
    control.add_argument("--data", type=Path, default=None, help=data_help)
    _fault_flags(control, starting=False)
    control.add_argument("--json", action="store_true", help="print the state as JSON")

    card = sub.add_parser("card", help="模擬マイナンバーカード (vpcd) / emulated card")
    card.add_argument("--person", required=True, help="P001… (see `people`)")
    card.add_argument("--reader", type=int, choices=sorted(VPCD_PORTS), default=0)
    card.add_argument("--data", type=Path, default=None, help=data_help)
    card.add_argument("--pin", default=None, help="override the person's demo PIN")

    people = sub.add_parser("people", help="模擬被保険者の一覧 / the synthetic population")
    people.add_argument("--json", action="store_true")

    listed = sub.add_parser(
        "appointments",
        help="模擬予約一覧 (CSV) / a sample appointments list for 「明日の予約」",
    )
    listed.add_argument(
        "--day", default="", help="YYYY-MM-DD of the appointments (default: tomorrow, Japan time)"
    )
    listed.add_argument("--utf-8", dest="utf8", action="store_true", help="UTF-8, not Shift_JIS")
    listed.add_argument("--out", type=Path, default=None, help="write here, not to stdout")

    pki = sub.add_parser("pki", help="テスト用PKIの作成 / build the test PKI only")
    pki.add_argument("--data", type=Path, default=None, help=data_help)
    _peripheral_parsers(sub)
    return parser


def _peripheral_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    light = sub.add_parser("light", help="模擬状態ランプ / simulated status light (TCP)")
    light.add_argument("--host", default="127.0.0.1")
    light.add_argument("--port", type=int, default=7710)
    printer = sub.add_parser("printer", help="模擬受付票プリンタ / simulated ESC/POS printer (TCP)")
    printer.add_argument("--host", default="127.0.0.1")
    printer.add_argument("--port", type=int, default=9100)
    printer.add_argument(
        "--out", type=Path, default=Path(".demo/tickets"), help="tickets as .bin, .txt and .png"
    )


MODES = ("normal", "down", "slow", "flapping")  # sim.central.faults.Mode, without importing Flask


def _fault_flags(parser: argparse.ArgumentParser, *, starting: bool) -> None:
    when = "at start" if starting else "now"
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="normal" if starting else None,
        help=f"failure mode {when}: down (listener closed), slow, flapping (down/up in turn)",
    )
    parser.add_argument(
        "--slow-s", type=float, default=2.0 if starting else None, help="slow: delay in seconds"
    )
    parser.add_argument(
        "--flap-s",
        type=float,
        default=30.0 if starting else None,
        help="flapping: seconds of each down or up phase (by the simulator's clock)",
    )
    parser.add_argument(
        "--flap-seed",
        type=int,
        default=None,
        help="flapping: vary phase lengths (0.5–1.5 × --flap-s), the same for the same seed",
    )
    if starting:
        parser.add_argument(
            "--changed-after-recovery",
            action="store_true",
            help="after the first down period ends, some answers change (docs/central-api.md)",
        )
    else:
        parser.add_argument(
            "--changed-after-recovery",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="switch the changed answers after recovery on or off",
        )


def _fault_changes(args: argparse.Namespace) -> dict[str, object]:
    names = ("mode", "slow_s", "flap_s", "flap_seed", "changed_after_recovery")
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data: Path = args.data if getattr(args, "data", None) else default_data_dir()
    try:
        if args.command == "people":
            return _people(args.json)
        if args.command == "appointments":
            return _appointments(args.day, utf8=args.utf8, out=args.out)
        if args.command == "pki":
            paths = _pki(data)
            print(f"PKI: {paths.root}")
            return 0
        if args.command == "central":
            return _central(args, data)
        if args.command == "control":
            return _control(args, data)
        if args.command == "terminal":
            return _terminal(args, data)
        if args.command == "face":
            return _face(args)
        if args.command in ("light", "printer"):
            return _peripheral(args)
        return _card(args, data)
    except (CardError, KeyError, OSError, ValueError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"エラー / error: {message}", file=sys.stderr)
        return 1


def holds_certificate(p: Person, people: Sequence[Person]) -> bool:
    """Whether the person holds a 資格確認書 instead of a My Number card: no card, and a record
    that is their own (not another card holder's newer qualification, nor a duplicate)."""
    newer = {q.newer_id for q in people if q.newer_id}
    return p.card_status == "none" and p.registered and not p.duplicate_of and p.id not in newer


def _appointments(day_text: str, *, utf8: bool, out: Path | None) -> int:
    if day_text:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            print("--day は YYYY-MM-DD です / --day takes YYYY-MM-DD", file=sys.stderr)
            return 2
    else:
        day = (utc_now().astimezone(JST) + timedelta(days=1)).date()
    data = sample_csv(day, encoding="utf-8" if utf8 else "cp932")
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
    return 0


def _people(as_json: bool) -> int:
    people = population()
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "kana": p.name_kana,
            "scenario": p.scenario,
            "pin": p.pin if p.card_status != "none" else "",
            "card": p.card_status,
            # what a 資格確認書 (or the card's answer) shows, for the numbers path
            "insurer_number": p.insurer_number,
            "symbol": p.symbol,
            "number": p.number,
            "branch": p.branch,
            "birthdate": p.birthdate,
            "certificate": holds_certificate(p, people),
        }
        for p in people
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"暗証番号は特記なければ {DEFAULT_PIN} / demo PIN is {DEFAULT_PIN} unless stated")
    for r in rows:
        print(f"{r['id']}  {r['pin'] or '----'}  {r['name']}（{r['kana']}）  {r['scenario']}")
    return 0


def _bulk_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bulk-delay",
        type=float,
        default=1.5,
        help="seconds a bulk inquiry stays in progress (default 1.5; 0 for benches)",
    )


def _central(args: argparse.Namespace, data: Path) -> int:
    from sim.central.faults import FaultSettings, Mode
    from sim.central.remote import write_control_file
    from sim.central.server import CentralServer  # Flask/cheroot only when serving

    faults = FaultSettings(
        Mode(args.mode), args.slow_s, args.flap_s, args.flap_seed, args.changed_after_recovery
    ).checked()
    paths = _pki(data)
    control_port = args.port + 1 if args.control_port is None else args.control_port
    server = CentralServer(
        paths, host=args.host, port=args.port, faults=faults, control_port=control_port
    )
    server.service.latency_s = args.latency_ms / 1000
    server.service.fail_rate = args.fail_rate
    server.service.bulk.delay_s = _bulk_delay(args)
    if args.shift_jis:
        server.service.encoding = "shift_jis"
    print(f"central: https://{args.host}:{args.port}  CA: {paths.central_ca_cert}", flush=True)
    print(f"device cert: {paths.device_cert}  key: {paths.device_key}", flush=True)
    server.start()
    control = write_control_file(data, server.control_url)
    print(f"fault switches: {server.control_url}  (onshi sim control --help)", flush=True)
    print(f"mode: {faults.mode.value}", flush=True)
    try:
        server.serve_forever()
    finally:
        control.unlink(missing_ok=True)
    return 0


def _bulk_delay(args: argparse.Namespace) -> float:
    if args.bulk_delay < 0:
        raise ValueError("--bulk-delay must be 0 or more seconds")
    return float(args.bulk_delay)


def _terminal(args: argparse.Namespace, data: Path) -> int:
    from sim.central.service import CentralService
    from sim.terminal import SimTerminal, TerminalFaults

    if args.delay < 0:
        raise ValueError("--delay must be 0 or more seconds")
    if not re.fullmatch(r"[0-9]{10}", args.institution):
        raise ValueError("--institution must be 10 digits")
    paths = _pki(data)
    service = CentralService(
        paths, encoding="utf-8" if args.utf8 else "shift_jis", bulk_delay_s=_bulk_delay(args)
    )
    faults = TerminalFaults(args.delay, args.half_written, args.duplicate, args.silent)
    terminal = SimTerminal(
        args.root,
        service,
        faults,
        pki=paths,
        institution=args.institution,
        zip_bulk=args.zip_bulk,
    )
    switches = [n for n in ("half_written", "duplicate", "silent") if getattr(faults, n)]
    print(
        f"terminal: {args.root.resolve()}  (req/ → res/, its reader → face/, "
        f"delay {faults.delay_s:g} s)",
        flush=True,
    )
    print(f"faults: {', '.join(switches) or 'none'}", flush=True)
    terminal.serve_forever()
    return 0


def _face(args: argparse.Namespace) -> int:
    """Exit 0 once the running terminal has taken the card (its face file follows after the
    terminal's delay), 1 when the person has no card or the terminal does not take it."""
    from sim.terminal import TerminalCardError

    try:
        return _place_on_terminal(args)
    except TerminalCardError as e:
        print(f"エラー / error: {e}", file=sys.stderr)
        return 1


def _place_on_terminal(args: argparse.Namespace) -> int:
    from sim.terminal import CONSENT_KINDS, TerminalCardError, place_on_reader, wait_taken

    p = next((q for q in population() if q.id == args.person), None)
    if p is None or p.card_status == "none":
        raise TerminalCardError(
            f"{args.person} のマイナンバーカードはありません / {args.person} has no My Number card"
        )
    if not (args.root / "face").is_dir():
        raise TerminalCardError(
            f"{args.root} は資格確認端末のフォルダではありません / {args.root} is not a terminal's "
            "root (start onshi sim terminal --root first)"
        )
    request = place_on_reader(args.root, args.person, () if args.no_consent else CONSENT_KINDS)
    if not wait_taken(request, args.timeout):
        raise TerminalCardError(
            "模擬資格確認端末がカードを読みません（起動していない、または --silent） / the "
            "simulated terminal did not take the card (not running, or --silent)"
        )
    print(f"card {args.person} read on the terminal's reader: {args.root / 'face'}", flush=True)
    return 0


def _peripheral(args: argparse.Namespace) -> int:
    """`sim light` / `sim printer`: serve until Ctrl-C; the light prints each state it shows."""
    import threading

    from sim.light import SimLight
    from sim.printer import SimPrinter

    device: SimLight | SimPrinter
    if args.command == "light":
        device = SimLight(
            args.host, args.port, on_change=lambda s: print(f"light: {s}", flush=True)
        )
        what = "status light"
    else:
        device = SimPrinter(args.host, args.port, out=args.out)
        what = f"ticket printer (tickets in {args.out})"
    device.start()
    print(f"{what}: {device.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        device.stop()
    return 0


def _control(args: argparse.Namespace, data: Path) -> int:
    from sim.central.remote import ControlError, call, control_url

    changes = _fault_changes(args)
    try:
        state = call(control_url(data), _pki(data), changes or None)
    except ControlError as e:
        print(f"エラー / error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(state, ensure_ascii=False))
        return 0
    for key, value in state.items():
        print(f"{key}: {value}")
    return 0


def _card(args: argparse.Namespace, data: Path) -> int:
    paths = _pki(data)
    card = VirtualCard(
        args.person,
        paths,
        state_dir=data / "cards",
        port=VPCD_PORTS[args.reader],
        audit_path=data / "card-audit.jsonl",
        pin=args.pin,
    )
    print(f"card {args.person} inserted in reader {args.reader} (Ctrl-C to remove)", flush=True)
    card.serve_forever()
    return 0
