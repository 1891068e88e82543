"""The `onshi` command as a technician and a newcomer use it, through the real stack."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device.accounts import Accounts
from device.cli import COMMANDS
from device.cli_support import run_until_stopped
from device.parts import load_settings, open_store
from device.settings import SETTINGS
from reader.pcsc import PcscReaders
from sim.card import VirtualCard
from sync.fieldcrypt import FieldCipher, FieldKeys
from sync.store import Store

from .conftest import APPLIANCE_PORT, APPLIANCE_READER

pytestmark = pytest.mark.stack

ONSHI = str(Path(sys.executable).parent / "onshi")


def env_for(pki: Any, central_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ONSHI_READER=APPLIANCE_READER,
        ONSHI_CENTRAL_URL=central_url,
        ONSHI_CENTRAL_CA=str(pki.central_ca_cert),
        ONSHI_DEVICE_CERT=str(pki.device_cert),
        ONSHI_DEVICE_KEY=str(pki.device_key),
        ONSHI_JPKI_ROOT_FILE=str(pki.jpki_root_cert),
        ONSHI_DATA_DIR=str(data_dir),
    )
    return env


@pytest.fixture
def card_on_reader(
    pcscd: list[str], sim_pki: Any, card_audit_path: Path, tmp_path: Path
) -> Iterator[VirtualCard]:
    card = VirtualCard(
        "P001", sim_pki, tmp_path / "cards", port=APPLIANCE_PORT, audit_path=card_audit_path
    )
    card.insert()
    readers = PcscReaders()
    deadline = time.monotonic() + 10
    while not readers.card_present(APPLIANCE_READER) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield card
    card.remove()
    readers.wait_until_empty(APPLIANCE_READER)
    readers.close()


def test_card_info_reads_only_the_certificate(
    card_on_reader: VirtualCard, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    out = subprocess.run(
        [ONSHI, "card", "info", "--json"],
        env=env_for(sim_pki, central_server.url, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    info = json.loads(out)
    assert info["subject"].startswith("CN=") and "C=JP" in info["subject"]
    assert "JPKI" in info["issuer"]
    # SELECT AP, SELECT 000A and the reads: no PIN, no other file.
    assert info["apdus"][:2] == ["00 A4 04 0C", "00 A4 02 0C"]
    assert all(h.startswith("00 B0") for h in info["apdus"][2:])


def test_card_info_says_whether_the_box_trusts_the_card(
    card_on_reader: VirtualCard, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    """The certificate read from the emulated card through pcscd + vpcd, checked on the box
    against jpki_root_file: trusted by the test root, not by another, not without one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another root")])
    now = datetime.now(UTC)  # the run's clock, as the session PKI was built
    other = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    other_file = tmp_path / "other-root.pem"
    other_file.write_bytes(other.public_bytes(serialization.Encoding.PEM))
    env = env_for(sim_pki, central_server.url, tmp_path)
    found = {}
    for root, data in ((sim_pki.jpki_root_cert, "a"), (other_file, "b"), ("", "c")):
        out = subprocess.run(
            [ONSHI, "card", "info", "--json"],
            env=dict(env, ONSHI_JPKI_ROOT_FILE=str(root), ONSHI_DATA_DIR=str(tmp_path / data)),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        found[str(root)] = json.loads(out)["jpki_root"]
    assert found == {
        str(sim_pki.jpki_root_cert): "trusted",
        str(other_file): "unknown_issuer",
        "": "no_root",
    }


def test_a_missing_jpki_root_file_exits_78_before_the_card_is_read(
    card_on_reader: VirtualCard, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    absent = tmp_path / "absent.pem"
    done = subprocess.run(
        [ONSHI, "card", "info"],
        env=dict(env_for(sim_pki, central_server.url, tmp_path), ONSHI_JPKI_ROOT_FILE=str(absent)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 78
    assert str(absent) in done.stderr and "does not exist" in done.stderr
    assert "がありません" in done.stderr
    assert done.stdout == ""  # no report: it stopped at the settings


def test_card_check_runs_a_visit_with_the_pin_from_stdin(
    card_on_reader: VirtualCard, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    done = subprocess.run(
        [ONSHI, "card", "check", "--json"],
        env=env_for(sim_pki, central_server.url, tmp_path),
        input="1234\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["state"] == "done" and report["badge"] == "VALID"
    assert report["apdus"] >= 8
    assert "1234" not in done.stderr  # the PIN is never echoed or logged


def test_card_check_with_a_wrong_pin_and_no_more_input_ends_cleanly(
    card_on_reader: VirtualCard, sim_pki: Any, central_server: Any, tmp_path: Path
) -> None:
    done = subprocess.run(
        [ONSHI, "card", "check", "--json"],
        env=env_for(sim_pki, central_server.url, tmp_path),
        input="9999\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["state"] == "aborted"
    assert "残り 2 回" in done.stderr


def test_configuration_errors_exit_78_with_the_reason(tmp_path: Path) -> None:
    env = dict(os.environ, ONSHI_MEDICAL_INSTITUTION_CODE="12")
    done = subprocess.run(
        [ONSHI, "card", "info"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 78
    assert "medical_institution_code" in done.stderr


def test_help_and_settings_name_everything() -> None:
    help_text = subprocess.run([ONSHI, "--help"], capture_output=True, text=True, check=True).stdout
    for command in {c.split()[0] for c in COMMANDS}:
        assert command in help_text
    settings = subprocess.run(
        [ONSHI, "settings"], capture_output=True, text=True, check=True
    ).stdout
    assert all(s.name in settings for s in SETTINGS)
    people = subprocess.run(
        [ONSHI, "sim", "people"], capture_output=True, text=True, check=True
    ).stdout
    assert "P001" in people and "1234" in people


def test_admin_create_user_with_password_on_stdin(tmp_path: Path) -> None:
    env = dict(os.environ, ONSHI_DATA_DIR=str(tmp_path))
    password = "桜 and a long passphrase"

    def create(*args: str, stdin: str = password + "\n") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ONSHI, "admin", "create-user", *args, "--password-stdin"],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = create("suzuki", "--name", "鈴木 一郎", "--role", "reception", "--role", "clinical")
    assert done.returncode == 0, done.stderr
    assert "suzuki" in done.stdout and "鈴木 一郎" in done.stdout
    assert "reception, clinical" in done.stdout
    assert password not in done.stdout + done.stderr
    again = create("suzuki", "--name", "別人", "--role", "admin")
    assert again.returncode == 65 and "already exists" in again.stderr
    short = create("sato", "--name", "佐藤", "--role", "reception", stdin="short\n")
    assert short.returncode == 65 and "12" in short.stderr
    no_role = create("sato", "--name", "佐藤")
    assert no_role.returncode == 65 and "role" in no_role.stderr
    bad_role = create("sato", "--name", "佐藤", "--role", "root")
    assert bad_role.returncode == 65 and "unknown role" in bad_role.stderr
    empty = create("sato", "--name", "佐藤", "--role", "reception", stdin="")
    assert empty.returncode == 65
    bad_config = subprocess.run(
        [ONSHI, "admin", "create-user", "sato", "--name", "x", "--role", "reception"],
        env=dict(env, ONSHI_LANGUAGE="xx"),
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_config.returncode == 78

    store = Store(tmp_path / "onshi.db", FieldCipher(FieldKeys.load(tmp_path / "store.key")))
    try:
        accounts = Accounts(store)
        assert accounts.count_users() == 1
        user = accounts.authenticate("suzuki", password, client="")
        assert user is not None and user.roles == frozenset({"reception", "clinical"})
        assert [e.action for e in store.audit_entries()][-1] == "user.created"
    finally:
        store.close()


def _sign_in(
    base: str, username: str, password: str, tls: ssl.SSLContext
) -> urllib.request.OpenerDirector:
    """A browser-like client (cookies kept) signed in through the login form."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        urllib.request.HTTPSHandler(context=tls),
    )
    form = opener.open(f"{base}/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None, form
    body = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "username": username, "password": password, "next": "/"}
    ).encode()
    opener.open(f"{base}/login", data=body, timeout=10).read()
    return opener


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_starts_everything_and_ctrl_c_stops_it(pcscd: list[str], tmp_path: Path) -> None:
    staff, kiosk = _free_port(), _free_port()
    env = dict(os.environ, ONSHI_STAFF_PORT=str(staff), ONSHI_KIOSK_PORT=str(kiosk))
    demo = subprocess.Popen(
        [ONSHI, "demo", "--data", str(tmp_path / "demo")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        assert any(f":{staff}/sandbox" in line for line in lines), lines
        logins = dict(
            re.findall(r"^\s+(reception|doctor|admin)\s+([A-Za-z0-9]{16})\s", "".join(lines), re.M)
        )
        assert set(logins) == {"reception", "doctor", "admin"}, lines
        saved = (tmp_path / "demo" / "logins.txt").read_text(encoding="utf-8")
        assert all(f"{u}\t{p}" in saved for u, p in logins.items())
        base = f"https://127.0.0.1:{staff}"
        assert any(f"{base}/sandbox" in line for line in lines), lines  # HTTPS for staff
        # The staff listener's self-signed certificate, made at first start, is the one trusted.
        tls = ssl.create_default_context(
            cafile=str(tmp_path / "demo" / "appliance" / "staff-tls" / "cert.pem")
        )
        anonymous = urllib.request.urlopen(f"{base}/", timeout=10, context=tls).read()
        assert "職員ログイン".encode() in anonymous  # the desk is behind the login
        page = _sign_in(base, "reception", logins["reception"], tls).open(f"{base}/", timeout=10)
        assert "受付".encode() in page.read() and page.url.rstrip("/") == base
        # tomorrow's sample list was imported, so 「明日の予約」 has something to check
        imported = [line for line in lines if "sample appointments for tomorrow" in line]
        assert imported and int(re.findall(r"imported (\d+) sample", imported[0])[0]) > 30
        tomorrow = _sign_in(base, "reception", logins["reception"], tls).open(
            f"{base}/appointments", timeout=10
        )
        assert b"K00001" in tomorrow.read()
        kiosk_page = urllib.request.urlopen(f"http://127.0.0.1:{kiosk}/", timeout=10).read()
        assert "カード".encode() in kiosk_page
        # Ctrl-C in a terminal reaches the whole process group, and often twice (make, then us).
        os.killpg(demo.pid, signal.SIGINT)
        time.sleep(0.2)
        os.killpg(demo.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=30)
        assert demo.returncode == 0, rest
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    # Nothing left running: the central's and the pages' ports are free again.
    for port in (8443, staff, kiosk):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_audit_verify_clean_then_a_tampered_copy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keys = FieldKeys.create(data / "store.key")
    store = Store(data / "onshi.db", FieldCipher(keys))
    for i in range(6):
        store.audit("tester", "login.success", f"user:u{i}", f"n={i}")
    store.close()

    def verify(directory: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ONSHI, "audit", "verify"],
            env=dict(os.environ, ONSHI_DATA_DIR=str(directory)),
            capture_output=True,
            text=True,
            timeout=60,
        )

    clean = verify(data)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("OK 6 entries")

    tampered = tmp_path / "tampered"
    shutil.copytree(data, tampered)
    conn = sqlite3.connect(tampered / "onshi.db")
    with conn:
        conn.execute("DELETE FROM audit WHERE id = 3")
    conn.close()
    broken = verify(tampered)
    assert broken.returncode == 1
    assert "audit entry id 4" in broken.stderr and "deleted, inserted or reordered" in broken.stderr
    assert "2 entries before it hold" in broken.stderr

    # the command only reads (beside a running appliance): nothing was added to the log
    again = verify(data)
    assert again.returncode == 0 and again.stdout.startswith("OK 6 entries")

    missing = verify(tmp_path / "nowhere")
    assert missing.returncode == 78 and "no database" in missing.stderr
    bad_config = subprocess.run(
        [ONSHI, "audit", "verify"],
        env=dict(os.environ, ONSHI_DATA_DIR=str(data), ONSHI_STAFF_PORT="x"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_config.returncode == 78 and "staff_port" in bad_config.stderr


class FakeRunning:
    def __init__(self, generation: int, log: list[str]) -> None:
        self.generation = generation
        self.log = log

    def stop(self) -> None:
        self.log.append(f"stop {self.generation}")


def test_run_loop_rebuilds_when_restart_is_set_and_ends_on_stop() -> None:
    log: list[str] = []
    restarts: list[threading.Event] = []
    stop = threading.Event()

    def start(restart: threading.Event) -> FakeRunning:
        restarts.append(restart)
        log.append(f"start {len(restarts)}")
        return FakeRunning(len(restarts), log)

    loop = threading.Thread(
        target=lambda: log.append(f"restarts {run_until_stopped(start, stop, poll_s=0.01)}")
    )
    loop.start()
    deadline = time.monotonic() + 10
    for wanted in (1, 2):
        while len(restarts) < wanted and time.monotonic() < deadline:
            time.sleep(0.01)
        restarts[-1].set()  # what the admin page's restart button does
    while len(restarts) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not restarts[-1].is_set()  # every build gets a fresh event
    stop.set()  # Ctrl-C / SIGTERM
    loop.join(10)
    assert not loop.is_alive()
    assert log == ["start 1", "stop 1", "start 2", "stop 2", "start 3", "stop 3", "restarts 2"]


def test_stored_settings_are_read_at_start(tmp_path: Path) -> None:
    config = load_settings(None, environ={"ONSHI_DATA_DIR": str(tmp_path)})
    assert config.retention_days == 31
    store = open_store(config)
    try:
        store.save_setting("retention_days", "62", actor="admin")
        store.save_setting("pin_timeout_s", "soon", actor="admin")  # e.g. an older version's
        store.save_setting("staff_port", "9123", actor="admin")  # no longer editable there
    finally:
        store.close()
    again = load_settings(None, environ={"ONSHI_DATA_DIR": str(tmp_path)})
    assert again.retention_days == 62 and again.sources["retention_days"] == "stored"
    assert again.pin_timeout_s == 90.0  # the bad one is ignored, not a crash
    assert again.staff_port == 8080  # where the pages listen is decided on the box
    env_wins = load_settings(
        None, environ={"ONSHI_DATA_DIR": str(tmp_path), "ONSHI_RETENTION_DAYS": "90"}
    )
    assert env_wins.retention_days == 90
