"""The `onshi` command: one main() that parses, builds and maps errors to exit codes."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from device.cli_support import install_stop_signal, run_until_stopped
from device.config import Config, ConfigError, load_config
from device.errors_log import RecentErrors
from device.logsetup import configure_logging
from device.sdnotify import notify
from device.settings import SETTINGS
from reader.errors import ReaderError
from reader.traffic import enable_traffic_logging
from sync.auditchain import AuditUncheckable
from sync.central import CentralError
from sync.fieldcrypt import KeyFileError

if TYPE_CHECKING:  # imported when the command runs: `onshi settings` stays fast
    from device.appliance import Appliance

# 1 is "the visit did not end with an answer" (onshi card check); the rest follow sysexits.h.
EXIT_OK, EXIT_USAGE, EXIT_CONFIG, EXIT_READER, EXIT_CENTRAL = 0, 64, 78, 69, 75
EXIT_DATA = 65  # bad input for an admin command (EX_DATAERR)
EXIT_AUDIT_BROKEN = 1  # `onshi audit verify`: the chain does not hold
EXIT_UNCHECKED = 74  # `onshi audit verify` could not read the log: no verdict (EX_IOERR)
# onshi backup / restore: the folder cannot be written, the store is in use, wrong passphrase.
EXIT_CANTCREAT, EXIT_IN_USE, EXIT_WRONG_PASSPHRASE = 73, 75, 77

COMMANDS: dict[str, str] = {
    "run": "Run the appliance: reader, visit flow, staff UI and kiosk",
    "demo": "Run everything on this machine: pcscd, simulated central (or with --central "
    "folders the simulated terminal's folders), appliance, sandbox page",
    "sim central": "Run the simulated central eligibility service (mutual TLS)",
    "sim control": "Switch the running simulated central's faults: down, slow, flapping, "
    "changed answers after recovery",
    "sim terminal": "Run a simulated 資格確認端末 on a folder: answers req/ files into res/ and "
    "writes face/ files for cards placed on its reader "
    "(faults: --delay, --half-written, --duplicate, --silent)",
    "sim face": "Place a card on the running simulated terminal's own (face-authentication) "
    "reader: it writes the visit's face/ file",
    "sim light": "Run a simulated status light on a TCP port (socket://…; prints each state)",
    "sim printer": "Run a simulated ESC/POS ticket printer on a TCP port; keeps each ticket as "
    ".bin, .txt and .png",
    "sim card": "Place a virtual JPKI card on a vpcd reader until stopped",
    "sim people": "List the synthetic population (ids, names, scenario, demo PIN)",
    "sim pki": "Create the test PKI (JPKI-like root, card, central and device certificates)",
    "card info": "Read only the authentication certificate of the card on the reader",
    "card check": "Run a whole card visit from the terminal (PIN read from stdin)",
    "terminal check": "Send one harmless request (the numbers of nobody) through the official "
    "terminal's folders and report the round trip (central_mode = folders)",
    "settings": "List every setting with its default and help",
    "admin create-user": "Create a staff login; the password is asked twice (or --password-stdin)",
    "backup": "Write an encrypted backup (database, audit anchor, store key) to backup_dir now "
    "and keep backup_keep generations (passphrase: --passphrase-stdin, backup_passphrase_file, "
    "or asked twice)",
    "restore": "Restore a backup FILE: verify it whole, check its integrity and audit chain, "
    "then swap it in with the appliance stopped (the replaced store is kept aside)",
    "audit verify": "Check the audit log's keyed chain and its anchor, read-only beside a running "
    "appliance; names the first entry that does not hold",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onshi",
        description="onshi-edge: online eligibility confirmation at the reception desk",
        epilog="Settings (config file keys, or environment ONSHI_<NAME>): "
        + ", ".join(s.name for s in SETTINGS),
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("ONSHI_CONFIG"),
        help="TOML settings file (default: $ONSHI_CONFIG)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help=COMMANDS["run"])
    demo = sub.add_parser("demo", help=COMMANDS["demo"])
    demo.add_argument(
        "--data",
        type=Path,
        default=Path(".demo"),
        help="Where the demo keeps its PKI, database and card state",
    )
    demo.add_argument(
        "--central",
        choices=("api", "folders"),
        default="api",
        help="api: the simulated central over mutual TLS (default); folders: the simulated "
        "official terminal's folders (central_mode = folders) on a temporary root",
    )
    sim = sub.add_parser("sim", help="Simulators: central, card, people, pki (see onshi sim -h)")
    sim.add_argument("args", nargs=argparse.REMAINDER)
    card = sub.add_parser("card", help="Technician tools for the card on the reader")
    card_sub = card.add_subparsers(dest="card_command", required=True)
    for name in ("info", "check"):
        p = card_sub.add_parser(name, help=COMMANDS[f"card {name}"])
        p.add_argument("--json", action="store_true", help="Print JSON instead of text")
    terminal = sub.add_parser("terminal", help="The official terminal's folders: check")
    terminal_sub = terminal.add_subparsers(dest="terminal_command", required=True)
    check = terminal_sub.add_parser("check", help=COMMANDS["terminal check"])
    check.add_argument("--json", action="store_true", help="Print JSON instead of text")
    sub.add_parser("settings", help=COMMANDS["settings"])
    admin = sub.add_parser("admin", help="Administration: create-user (see onshi admin -h)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-user", help=COMMANDS["admin create-user"])
    create.add_argument("username", help="Login name: 2-32 of a-z 0-9 . _ -")
    create.add_argument("--name", required=True, help="Name shown on the pages (表示名)")
    create.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="reception, clinical or admin; repeat for several",
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="Read the password from the first line of stdin instead of prompting",
    )
    _backup_parsers(sub)
    audit = sub.add_parser("audit", help="Audit log: verify (see onshi audit -h)")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help=COMMANDS["audit verify"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:
        # The simulators are separate programs: hand over without importing them here.
        os.execv(sys.executable, [sys.executable, "-m", "sim", *argv[1:]])
    args = _parser().parse_args(argv)
    try:
        if args.command == "settings":
            return _settings()
        if args.command == "demo":
            from device.demo import run_demo

            return run_demo(
                args.data, args.config, errors=RecentErrors().install(), central=args.central
            )
        config = load_config(args.config)
        configure_logging()  # <N>-prefixed lines without times under systemd's journal
        _apply_log_level(config)
        if args.command == "run":
            return _run(args.config, RecentErrors().install())
        if args.command == "audit":
            return _audit_verify(config)
        if args.command == "card":
            from device.technician import card_check, card_info

            if args.card_command == "info":
                return card_info(config, as_json=args.json)
            return card_check(config, sys.stdin, as_json=args.json)
        if args.command == "admin":
            return _create_user(config, args)
        if args.command == "terminal":
            return _terminal_check(config, as_json=args.json)
        if args.command in ("backup", "restore"):
            return _backup_command(config, args)
    except (ConfigError, KeyFileError) as exc:  # KeyMismatchError too: never a new key
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except AuditUncheckable as exc:
        print(
            f"監査ログを検査できませんでした / could not check the audit log: {exc}",
            file=sys.stderr,
        )
        return EXIT_UNCHECKED
    except ReaderError as exc:
        print(f"カードリーダー / card reader: {exc}", file=sys.stderr)
        return EXIT_READER
    except CentralError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CENTRAL
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_USAGE


def _apply_log_level(config: Config) -> None:
    if config.log_level == "TRAFFIC":
        enable_traffic_logging(logging.getLogger())  # says so loudly: card data in logs
    else:
        logging.getLogger().setLevel(config.log_level)


def _terminal_check(config: Config, *, as_json: bool) -> int:
    """A request the terminal answers 該当資格なし, through `req/` and `res/` as every check
    goes: whether the folders are mounted and the terminal's linking application answers.
    CentralError (exit 75) when it does not answer within `terminal_timeout_s`."""
    from sync.folders import FolderTransport

    if config.central_mode != "folders":
        raise ConfigError(
            "central_mode が folders ではありません（資格確認端末のフォルダを使う設定にして"
            "ください） / central_mode is not folders: set it (and terminal_root) to use the "
            "terminal"
        )
    with FolderTransport(
        config.terminal_root,
        timeout_s=config.terminal_timeout_s,
        rescan_s=config.terminal_rescan_s,
        medical_institution_code=config.medical_institution_code,
    ) as transport:
        seconds = transport.health()
    root = str(config.terminal_root)
    if as_json:
        print(json.dumps({"terminal_root": root, "round_trip_ms": round(seconds * 1000, 1)}))
    else:
        print(
            f"資格確認端末が応答しました / the terminal answered: {seconds * 1000:.0f} ms ({root})"
        )
    return EXIT_OK


def _settings() -> int:
    for s in SETTINGS:
        default = str(s.default) if str(s.default) not in ("", ".") else '""'
        print(f"{s.name} (default: {default}; accepts: {s.range_text})\n    {s.help}")
    return EXIT_OK


def _create_user(config: Config, args: argparse.Namespace) -> int:
    from device.accounts import AccountError, Accounts, role_label
    from device.parts import open_store

    try:
        password = _new_password(args.password_stdin)
    except (AccountError, EOFError) as exc:
        message = str(exc) or "パスワードがありません / no password given"
        print(message, file=sys.stderr)
        return EXIT_DATA
    store = open_store(config)
    try:
        user = Accounts(store).create_user(
            args.username, args.name, args.role, password, actor=f"cli:{_os_user()}"
        )
    except AccountError as exc:
        print(exc, file=sys.stderr)
        return EXIT_DATA
    finally:
        store.close()
    roles = [r for r in ("reception", "clinical", "admin") if user.has(r)]
    print(
        f"職員を登録しました / staff user created: {user.username} ({user.display_name})\n"
        f"  役割 / roles: {'・'.join(role_label(r, 'ja') for r in roles)} / {', '.join(roles)}"
    )
    return EXIT_OK


def _new_password(from_stdin: bool) -> str:
    """One line of stdin, or typed twice without echo."""
    from device.accounts import AccountError

    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise EOFError("標準入力にパスワードがありません / no password on stdin")
        return line.removesuffix("\n").removesuffix("\r")
    first = getpass.getpass("パスワード / password: ")
    if getpass.getpass("もう一度 / again: ") != first:
        raise AccountError("パスワードが一致しません / the two passwords differ")
    return first


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


def _audit_verify(config: Config) -> int:
    """Exit 0 when the whole chain holds, 1 naming the first entry that does not, 74 when it
    could not be checked, 78 without the database's own key (never a new one).

    Read-only from one snapshot, beside a running appliance: nothing is written (the admin
    page's verifier, inside the appliance, records its checks in the log)."""
    from device.parts import store_keys, wrong_key_message
    from sync.fieldcrypt import FieldCipher, KeyMismatchError
    from sync.store import verify_audit_file

    if not config.database_path.exists():
        raise ConfigError(
            f"データベースがありません / no database at {config.database_path} (data_dir?)"
        )
    keys = store_keys(config, create=False)
    try:
        verdict = verify_audit_file(config.database_path, FieldCipher(keys))
    except KeyMismatchError as exc:
        raise KeyMismatchError(wrong_key_message(config)) from exc
    if verdict.ok:
        print(f"OK {verdict.checked} entries（監査ログの連鎖は正常です / the audit chain holds）")
        return EXIT_OK
    where = (
        f"監査ログ {verdict.first_bad_id} 番 / audit entry id {verdict.first_bad_id}: "
        if verdict.first_bad_id is not None
        else "監査ログ / audit log: "
    )
    print(
        f"NG: {where}{verdict.reason}\n"
        f"  それより前の {verdict.checked} 件は正常 / the {verdict.checked} entries before it hold",
        file=sys.stderr,
    )
    return EXIT_AUDIT_BROKEN


def _backup_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser("backup", help=COMMANDS["backup"])
    backup.add_argument(
        "--passphrase-stdin",
        action="store_true",
        help="Read the passphrase from the first line of stdin",
    )
    restore = sub.add_parser("restore", help=COMMANDS["restore"])
    restore.add_argument("file", type=Path, help="The backup file (onshi-<time>.backup)")
    restore.add_argument(
        "--passphrase-stdin",
        action="store_true",
        help="Read the passphrase from the first line of stdin instead of asking",
    )
    restore.add_argument(
        "--key-out",
        type=Path,
        help="Write the backup's store key to this new file instead of key_file (when key_file "
        "is a systemd credential that cannot be replaced here)",
    )


def _backup_command(config: Config, args: argparse.Namespace) -> int:
    """`onshi backup` / `onshi restore FILE` (device/backup.py); every refusal says what to do
    and leaves the store as it was."""
    from device import backup, backupfile
    from sync.clock import utc_now
    from sync.store.backup import SnapshotError

    try:
        if args.command == "backup":
            passphrase = _backup_passphrase(config, args.passphrase_stdin, twice=True)
            written = backup.write_backup(config, passphrase, now=utc_now())
            print(
                f"バックアップを書きました / backup written: {written.path} "
                f"({written.size:,} bytes; {_counts_text(written.counts)})"
            )
            for old in written.pruned:
                print(f"  古い世代を削除 / old generation removed: {old.name}")
            return EXIT_OK
        passphrase = _backup_passphrase(config, args.passphrase_stdin, twice=False)
        done = backup.restore_backup(
            config,
            args.file,
            passphrase,
            now=utc_now(),
            actor=f"cli:{_os_user()}",
            key_out=args.key_out,
        )
    except backupfile.WrongPassphrase as exc:
        print(exc, file=sys.stderr)
        return EXIT_WRONG_PASSPHRASE
    except backup.StoreInUse as exc:
        print(exc, file=sys.stderr)
        return EXIT_IN_USE
    except backup.BackupTargetError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CANTCREAT
    except (backupfile.BackupError, EOFError) as exc:
        print(str(exc) or "パスフレーズがありません / no passphrase given", file=sys.stderr)
        return EXIT_DATA
    except SnapshotError as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNCHECKED
    print(
        f"戻しました / restored: backup made {done.created_at}; "
        f"{_counts_text(done.counts)}; audit chain holds ({done.audit_checked} entries)"
    )
    if done.replaced is not None:
        print(f"  元のデータは保管しました / the replaced store is kept in {done.replaced}")
    if done.key_out is not None:
        print(
            f"  鍵を {done.key_out} に書き出しました。資格情報として封印し直し、このファイルを"
            f"消してから起動してください / the backup's key is in {done.key_out}: seal it as the "
            "store key credential, then delete that file, before starting:\n"
            "    sudo mv /etc/credstore.encrypted/onshi-store-key "
            "/etc/credstore.encrypted/onshi-store-key.replaced\n"
            f"    sudo make seal-key KEY={done.key_out}   (docs/backup.md)"
        )
    elif done.key_replaced:
        print("  鍵ファイルもバックアップの鍵にしました / key file replaced by the backup's key")
    return EXIT_OK


def _backup_passphrase(config: Config, from_stdin: bool, *, twice: bool) -> str:
    """stdin's first line, else (for a backup) backup_passphrase_file, else asked."""
    from device.backupfile import PassphraseError, read_passphrase_file

    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise EOFError("標準入力にパスフレーズがありません / no passphrase on stdin")
        return line.removesuffix("\n").removesuffix("\r")
    if twice and str(config.backup_passphrase_file) not in ("", "."):
        try:
            return read_passphrase_file(config.backup_passphrase_file)
        except PassphraseError as exc:
            if not sys.stdin.isatty():
                raise
            print(exc, file=sys.stderr)  # the service's credential, say: typed instead
    first = getpass.getpass("パスフレーズ / passphrase: ")
    if twice and getpass.getpass("もう一度 / again: ") != first:
        raise PassphraseError("パスフレーズが一致しません / the two passphrases differ")
    return first


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {count:,}" for table, count in counts.items())


def _run(config_path: Path | None, errors: RecentErrors) -> int:
    """Serve until Ctrl-C / SIGTERM; "restart" on the admin page rebuilds from the saved
    settings in this same process."""
    from device.appliance import start_appliance

    stop = install_stop_signal()

    def start(restart: threading.Event) -> Appliance:
        appliance = start_appliance(config_path, restart=restart, errors=errors)
        _apply_log_level(appliance.services.config)
        print(f"受付画面 / reception: {appliance.staff.base_url}/", flush=True)
        print(f"キオスク / kiosk:     {appliance.kiosk.base_url}/", flush=True)
        notify("READY=1")  # systemd (Type=notify): the kiosk screen may start now
        notify("STATUS=稼働中 / running")  # in place of a migration's status, if one ran
        return appliance

    run_until_stopped(start, stop)
    return EXIT_OK
