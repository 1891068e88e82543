"""`onshi demo`: the whole world on one machine, started in order and stopped on Ctrl-C.

pcscd (only if none is running), the simulated central service and the appliance in demo mode
with its sandbox page. Everything started here is stopped here; nothing is left running.
The first start creates two staff logins with random passwords, kept in <data>/logins.txt (0600).

`central="folders"` (`onshi demo --central folders`, `make demo MODE=folders`) is a clinic's
shape instead: the appliance with central_mode = folders and, in place of the simulated central,
`onshi sim terminal` on a temporary root (removed at the end) answering its req/ files and
writing face/ files for cards placed on the official reader from the sandbox page.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from device.accounts import Accounts, role_label
from device.appliance import Appliance, start_appliance
from device.cli_support import install_stop_signal, run_until_stopped
from device.errors_log import RecentErrors
from device.parts import connect_central, load_settings
from reader.errors import ReaderUnavailable
from reader.pcsc import PcscReaders
from sync.central import CentralClient, CentralError

DEMO_CENTRAL_PORT = 8443
DEMO_CONTROL_PORT = 8444  # the simulator's fault switches (loopback), used by the sandbox page
DEMO_LIGHT_PORT = 7710  # `onshi sim light` (docs/signal.md)
DEMO_PRINTER_PORT = 7711  # `onshi sim printer`: tickets as PNG under <data>/tickets
VPCD_READER = "Virtual PCD 00 00"
LOGINS_FILE = "logins.txt"
# (username, display name, roles) of the logins a fresh demo creates.
DEMO_USERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("reception", "受付 デモ", ("reception",)),
    ("doctor", "医師 デモ", ("clinical", "reception")),
    # An admin enrols a second factor (any TOTP app) at the first sign-in, as on a real box.
    ("admin", "管理 デモ", ("admin", "reception")),
)
CENTRAL_MODES = ("api", "folders")
TERMINAL_START_S = 30.0  # for `onshi sim terminal` to make its folders (its PKI exists by then)
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"  # no 0/O, 1/l/I
DEMO_PASSWORD_LENGTH = 16


class DemoError(Exception):
    pass


def _pcsc_readers() -> list[str] | None:
    readers = PcscReaders()
    try:
        return readers.list_readers()
    except ReaderUnavailable:
        return None
    finally:
        readers.close()


def ensure_pcscd() -> subprocess.Popen[bytes] | None:
    """Start pcscd in the foreground when none answers; return the child we started."""
    if _pcsc_readers() is not None:
        return None
    binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not Path(binary).exists():
        raise DemoError("pcscd がありません / pcscd is not installed (make setup installs it)")
    child = subprocess.Popen(
        [binary, "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = _pcsc_readers()
        if found:
            return child
        time.sleep(0.2)
    child.terminate()
    raise DemoError("pcscd が起動しません / pcscd did not start (are you root?)")


def demo_overrides(data: Path, terminal_root: Path | None = None) -> dict[str, Any]:
    """The settings the demo fixes: its own data, the simulated central and its test PKI
    (`onshi sim pki` builds it under <data>/pki, sim/pki.py names the files), the vpcd reader;
    with `terminal_root`, central_mode = folders on the simulated terminal there."""
    pki = data / "pki"
    folders: dict[str, Any] = (
        {"central_mode": "folders", "terminal_root": terminal_root}
        if terminal_root is not None
        else {}
    )
    return {
        "demo": True,
        "demo_data": data,
        "data_dir": data / "appliance",
        "central_url": f"https://127.0.0.1:{DEMO_CENTRAL_PORT}",
        "central_ca": pki / "central-ca.pem",
        "device_cert": pki / "device.pem",
        "device_key": pki / "device.key",
        # card certificates are checked against the test JPKI root while the central is down
        "jpki_root_file": pki / "jpki-root.pem",
        "reader": VPCD_READER,
        "signal_light_url": f"socket://127.0.0.1:{DEMO_LIGHT_PORT}",
        "ticket_printer_url": f"socket://127.0.0.1:{DEMO_PRINTER_PORT}",
        **folders,
    }


def _peripheral_sims(data: Path) -> list[subprocess.Popen[bytes]]:
    """The simulated status light and ticket printer (optional devices: if either cannot
    start, the appliance shows it unplugged on the status page and goes on)."""
    sim = [sys.executable, "-m", "sim"]
    return [
        subprocess.Popen([*sim, "light", "--port", str(DEMO_LIGHT_PORT)]),
        subprocess.Popen(
            [*sim, "printer", "--port", str(DEMO_PRINTER_PORT), "--out", str(data / "tickets")]
        ),
    ]


def run_demo(
    data: Path,
    config_path: Path | None,
    errors: RecentErrors | None = None,
    central: str = "api",
) -> int:
    """`central`: "api" (the simulated central over mutual TLS) or "folders" (the simulated
    official terminal's folders)."""
    if central not in CENTRAL_MODES:
        raise ValueError(f"central must be one of {CENTRAL_MODES}")
    with _terminal_root(central == "folders") as root:
        return _run_demo(data, config_path, errors, root)


@contextmanager
def _terminal_root(wanted: bool) -> Iterator[Path | None]:
    """A temporary root for the simulated terminal's folders, removed afterwards."""
    if not wanted:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="onshi-terminal-") as where:
        yield Path(where)


def _run_demo(
    data: Path, config_path: Path | None, errors: RecentErrors | None, terminal_root: Path | None
) -> int:
    data = data.resolve()
    subprocess.run([sys.executable, "-m", "sim", "pki", "--data", str(data)], check=True)
    children: list[subprocess.Popen[bytes]] = []
    try:
        pcscd = ensure_pcscd()
        if pcscd is not None:
            children.append(pcscd)
        readers = _pcsc_readers() or []
        if VPCD_READER not in readers:
            raise DemoError(
                f"仮想リーダー {VPCD_READER!r} がありません / the vpcd reader is missing "
                f"(found {readers}); install vsmartcard-vpcd and restart pcscd"
            )
        children += _peripheral_sims(data)
        overrides = demo_overrides(data, terminal_root)
        config = load_settings(config_path, overrides=overrides)
        if terminal_root is not None:
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "sim",
                        "terminal",
                        "--root",
                        str(terminal_root),
                        "--data",
                        str(data),
                        "--institution",
                        config.medical_institution_code,
                    ]
                )
            )
            wait_for_terminal(terminal_root, children[-1])
        else:
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "sim",
                        "central",
                        "--data",
                        str(data),
                        "--port",
                        str(DEMO_CENTRAL_PORT),
                        "--control-port",
                        str(DEMO_CONTROL_PORT),
                    ]
                )
            )
            probe = connect_central(config, timeout_s=2, retries=0)
            try:
                wait_for_central(probe)
            finally:
                probe.close()
        stop = install_stop_signal()
        starts = 0

        def start(restart: threading.Event) -> Appliance:
            # Each (re)start reads the settings saved on the admin page afresh.
            nonlocal starts
            appliance = start_appliance(
                config_path, overrides=overrides, restart=restart, errors=errors
            )
            starts += 1
            if starts == 1:
                try:
                    _sample_appointments(appliance)
                    _announce(appliance, data, terminal_root)
                except BaseException:
                    appliance.stop()
                    raise
            else:
                print("再起動しました / restarted with the saved settings", flush=True)
            return appliance

        run_until_stopped(start, stop)
    except DemoError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


def _sample_appointments(appliance: Appliance) -> None:
    """Tomorrow's sample appointments list (`onshi sim appointments`), imported as a receipt
    computer would send it, so 「明日の予約」 and its 「今すぐ照会」 have something to check;
    nothing when tomorrow already has appointments (a demo started again)."""
    appointments = appliance.services.appointments
    tomorrow = appointments.tomorrow()
    if appliance.services.store.appointments_on(tomorrow.strftime("%Y%m%d")):
        return
    listed = subprocess.run(
        [sys.executable, "-m", "sim", "appointments", "--day", tomorrow.isoformat()],
        check=True,
        capture_output=True,
    )
    count = appointments.import_csv(listed.stdout, actor="demo", source="demo")
    print(
        f"明日の予約（模擬）{count}件を取り込みました / imported {count} sample appointments "
        "for tomorrow",
        flush=True,
    )


def _announce(appliance: Appliance, data: Path, terminal_root: Path | None = None) -> None:
    """Create the demo logins on a fresh database and print where everything is."""
    staff = appliance.staff.base_url
    accounts = appliance.services.accounts or Accounts(appliance.services.store)
    logins = ensure_demo_logins(accounts, data)
    sandbox_note = (
        "  (資格確認端末（模擬）のリーダーにもここでカードを置けます / place cards on the "
        "simulated official terminal's reader there too)\n"
        f"  資格確認端末 / terminal folders: {terminal_root}\n"
        if terminal_root is not None
        else "  (中央サービスの停止・遅延・断続もここで切り替えます / switch the simulated central "
        "down, slow or flapping there too)\n"
    )
    print(
        "\nonshi-edge デモ / demo is running:\n"
        f"  受付 / reception:        {staff}/\n"
        f"  仮想カード / sandbox:    {staff}/sandbox\n"
        f"  明日の予約 / tomorrow:   {staff}/appointments\n"
        + sandbox_note
        + f"  キオスク / kiosk:        {appliance.kiosk.base_url}/\n"
        "  (職員画面は自己署名証明書の HTTPS です / the staff pages use HTTPS with a self-signed "
        "certificate: accept it once in the browser)\n"
        + logins_text(logins, data / LOGINS_FILE, f"{staff}/login")
        + "Ctrl-C で終了 / Ctrl-C stops everything.\n",
        flush=True,
    )


def ensure_demo_logins(accounts: Accounts, data: Path) -> list[tuple[str, str]]:
    """Create the demo logins when the database has no users; [(username, password)] created."""
    if accounts.count_users() > 0:
        return []
    created = []
    for username, display_name, roles in DEMO_USERS:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(DEMO_PASSWORD_LENGTH))
        accounts.create_user(username, display_name, roles, password, actor="demo")
        created.append((username, password))
    path = data / LOGINS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a file left from an older database: never widen, replace
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# onshi-edge demo staff logins (demo only)\n")
        for username, password in created:
            f.write(f"{username}\t{password}\n")
    return created


def logins_text(created: list[tuple[str, str]], path: Path, login_url: str) -> str:
    """What the demo prints about staff logins: new passwords once, else where they are."""
    if not created:
        return f"  職員ログイン / staff logins: {path}\n"
    roles = {username: r for username, _, r in DEMO_USERS}
    lines = [f"  職員ログイン / staff logins ({login_url}):"]
    for username, password in created:
        labels = "・".join(role_label(r, "ja") for r in roles[username])
        lines.append(f"    {username:<10} {password}   {labels} / {', '.join(roles[username])}")
    lines.append(f"  (保存先 / saved in {path})")
    return "\n".join(lines) + "\n"


def wait_for_central(client: CentralClient, seconds: float = 20) -> None:
    """Return once the central answers a health call; DemoError when it never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.health()
            return
        except CentralError:
            if time.monotonic() > deadline:
                raise DemoError(
                    "模擬中央サービスが起動しません / the simulated central did not start"
                ) from None
            time.sleep(0.3)


def wait_for_terminal(
    root: Path, child: subprocess.Popen[bytes], seconds: float = TERMINAL_START_S
) -> None:
    """Return once the simulated terminal has made its folders; DemoError when it stops or
    never does."""
    deadline = time.monotonic() + seconds
    while not all((root / name).is_dir() for name in ("req", "res", "face", "trash")):
        if child.poll() is not None or time.monotonic() > deadline:
            raise DemoError("模擬資格確認端末が起動しません / the simulated terminal did not start")
        time.sleep(0.1)
