"""The appliance's units (systemd/): systemd-analyze verifies them, scores onshi.service's
hardening at most 2.0 (the README prints the score), and the kiosk's browser policy allows the
kiosk address only."""

from __future__ import annotations

import json
import mmap
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from device.config import load_config
from device.settings import SETTINGS_BY_NAME
from device.storekey import CREDENTIAL_NAME, SEALED_CREDENTIAL

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
SERVICE = UNITS / "onshi.service"
KIOSK = UNITS / "onshi-kiosk.service"
POLICY = UNITS / "chromium-policy.json"
PREFIX = Path("/opt/onshi")  # the Makefile's PREFIX; the units name it
MAX_EXPOSURE = 2.0
KIOSK_ADDRESS = f"http://127.0.0.1:{SETTINGS_BY_NAME['kiosk_port'].default}"

# Every key of the managed policy, so none is dropped or added unnoticed.
POLICY_KEYS = {
    "URLBlocklist",
    "URLAllowlist",
    "HomepageLocation",
    "HomepageIsNewTabPage",
    "RestoreOnStartup",
    "RestoreOnStartupURLs",
    "DeveloperToolsAvailability",
    "DownloadRestrictions",
    "AllowFileSelectionDialogs",
    "PrintingEnabled",
    "IncognitoModeAvailability",
    "BrowserGuestModeEnabled",
    "BrowserAddPersonEnabled",
    "BrowserSignin",
    "SyncDisabled",
    "PasswordManagerEnabled",
    "AutofillAddressEnabled",
    "AutofillCreditCardEnabled",
    "TranslateEnabled",
    "SpellCheckServiceEnabled",
    "SearchSuggestEnabled",
    "DefaultSearchProviderEnabled",
    "AlternateErrorPagesEnabled",
    "NetworkPredictionOptions",
    "MetricsReportingEnabled",
    "SafeBrowsingProtectionLevel",
    "DefaultBrowserSettingEnabled",
    "BackgroundModeEnabled",
    "BookmarkBarEnabled",
    "EditBookmarksEnabled",
    "ExtensionInstallBlocklist",
    "DefaultNotificationsSetting",
    "DefaultGeolocationSetting",
    "DefaultPopupsSetting",
    "AudioCaptureAllowed",
    "VideoCaptureAllowed",
    "ScreenCaptureAllowed",
    "AllowDinosaurEasterEgg",
}


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: `make apt` installs the systemd package")
    return found


def directives(unit: Path) -> dict[str, list[str]]:
    """Key → every value it is given (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", unit.read_text())
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def exposure(unit: Path) -> float:
    done = subprocess.run(
        [analyze(), "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(rf"Overall exposure level for {unit.name}: (\d+\.\d)", done.stdout)
    assert found, done.stdout + done.stderr
    return float(found.group(1))


def test_the_appliance_unit_is_hardened_to_at_most_2_0_and_the_readme_says_so() -> None:
    score = exposure(SERVICE)
    assert score <= MAX_EXPOSURE
    readme = (ROOT / "README.md").read_text()
    assert f"`systemd-analyze security --offline=true` rates `onshi.service` {score}" in readme


def test_systemd_analyze_verifies_both_units() -> None:
    """Clean, except that the install prefix need not exist on the machine running the tests."""
    done = subprocess.run(
        [analyze(), "verify", "--no-pager", str(SERVICE), str(KIOSK)],
        capture_output=True,
        text=True,
        check=False,
    )
    missing_prefix = f"onshi.service: Command {PREFIX}/bin/onshi is not executable: No such file"
    complaints = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and not (line.startswith(missing_prefix) and not PREFIX.exists())
    ]
    assert complaints == []


def test_the_appliance_runs_as_its_own_user_with_the_key_as_a_credential() -> None:
    unit = directives(SERVICE)
    assert unit["ExecStart"] == [f"{PREFIX}/bin/onshi run"]
    assert unit["User"] == ["onshi"] and unit["Group"] == ["onshi"]
    assert unit["SupplementaryGroups"] == ["dialout"]
    assert unit["LoadCredentialEncrypted"] == [f"{CREDENTIAL_NAME}:{SEALED_CREDENTIAL}"]
    assert unit["DevicePolicy"] == ["closed"]
    assert unit["DeviceAllow"] == ["char-ttyUSB rw", "char-ttyACM rw"]  # serial devices only
    assert unit["CapabilityBoundingSet"] == [""]
    # device/clocktrust.py reads the kernel's clock state: ProtectClock= would deny adjtimex
    # outright, and the allow-list must give it back after ~@privileged took it away.
    assert "ProtectClock" not in unit
    assert unit["SystemCallFilter"][-1].split() == ["adjtimex", "clock_adjtime"]
    # The example configuration the install puts in /etc/onshi fits the unit.
    assert unit["Environment"][0] == "ONSHI_CONFIG=/etc/onshi/onshi.toml"
    assert unit["StateDirectory"] == ["onshi"] and unit["ConfigurationDirectory"] == ["onshi"]
    example = load_config(UNITS / "onshi.toml.example", environ={})
    assert example.data_dir == Path("/var/lib/onshi")
    assert f"http://127.0.0.1:{example.kiosk_port}" == KIOSK_ADDRESS


def test_the_kiosk_shows_the_kiosk_address_only_and_comes_back_after_a_crash() -> None:
    unit = directives(KIOSK)
    assert unit["User"] == ["onshi-kiosk"] and unit["Restart"] == ["always"]
    assert unit["TTYPath"] == ["/dev/tty1"] and unit["PAMName"] == ["login"]
    command = unit["ExecStart"][0].split()
    assert command[:3] == ["/usr/bin/cage", "-d", "--"] and "-s" not in command[:3]
    assert command[3] == "/usr/bin/chromium" and "--kiosk" in command
    assert {"--disable-pinch", "--overscroll-history-navigation=0"} <= set(command)
    assert command[-1] == KIOSK_ADDRESS + "/"
    assert [c for c in command if c.startswith("http")] == [command[-1]]


def test_the_browser_policy_allows_the_kiosk_address_only() -> None:
    policy = json.loads(POLICY.read_text())
    assert set(policy) == POLICY_KEYS
    assert policy["URLBlocklist"] == ["*"]
    assert policy["URLAllowlist"] == [KIOSK_ADDRESS]
    assert policy["DeveloperToolsAvailability"] == 2  # not allowed
    assert policy["DownloadRestrictions"] == 3  # all downloads blocked
    assert policy["PrintingEnabled"] is False
    assert policy["ExtensionInstallBlocklist"] == ["*"]
    pages = [policy["HomepageLocation"], *policy["RestoreOnStartupURLs"]]
    assert all(page.startswith(KIOSK_ADDRESS + "/") for page in pages)


def test_every_policy_key_is_one_this_chromium_knows() -> None:
    """A misspelt policy is ignored by Chromium without a word: each name must be in the binary."""
    binary = Path("/usr/lib/chromium/chromium")
    if not binary.exists():
        pytest.skip("Debian's chromium is not installed (make apt)")
    with binary.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        unknown = [key for key in sorted(POLICY_KEYS) if data.find(key.encode()) < 0]
        assert data.find(b"TaskManagerEndpointsEnabled") < 0  # a name it lacks is noticed
    assert unknown == []


def test_the_users_are_made_by_sysusers(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("systemd-sysusers --root writes root-owned files")
    (tmp_path / "etc").mkdir()
    subprocess.run(
        [
            shutil.which("systemd-sysusers") or "systemd-sysusers",
            f"--root={tmp_path}",
            str(UNITS / "onshi.sysusers"),
        ],
        capture_output=True,
        check=True,
    )
    passwd = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc/passwd").read_text().splitlines()
    }
    assert passwd["onshi"][5] == "/var/lib/onshi" and passwd["onshi"][6].endswith("nologin")
    assert "onshi-kiosk" in passwd
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (tmp_path / "etc/group").read_text().splitlines()
    }
    assert groups["dialout"] == ["onshi"]
    assert "onshi" not in groups["video"]


def test_the_polkit_rule_lets_the_onshi_user_reach_pcscd_and_no_one_else() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed to run the polkit rule")
    script = (
        "const rules = []; const polkit = {Result: {YES: 'yes'}, addRule: r => rules.push(r)};\n"
        f"{(UNITS / 'onshi-pcsc.rules').read_text()}\n"
        "const ask = (id, user) => rules.map(r => r({id}, {user})).find(x => x) || 'no';\n"
        "console.log(JSON.stringify([\n"
        "  ask('org.debian.pcsc-lite.access_pcsc', 'onshi'),\n"
        "  ask('org.debian.pcsc-lite.access_card', 'onshi'),\n"
        "  ask('org.debian.pcsc-lite.access_card', 'onshi-kiosk'),\n"
        "  ask('org.freedesktop.login1.reboot', 'onshi')]));\n"
    )
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == ["yes", "yes", "no", "no"]


def test_tmpfiles_makes_the_credential_store_root_only(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles --root creates root-owned directories")
    subprocess.run(
        [
            shutil.which("systemd-tmpfiles") or "systemd-tmpfiles",
            f"--root={tmp_path}",
            "--create",
            str(UNITS / "onshi.tmpfiles"),
        ],
        capture_output=True,
        check=True,
    )
    store = (tmp_path / SEALED_CREDENTIAL.parent.relative_to("/")).stat()
    assert oct(store.st_mode & 0o7777) == "0o700" and store.st_uid == 0
