"""`make install DESTDIR=…` stages the whole appliance without root, apt, users or systemctl;
`make uninstall` leaves the patient data and the configuration unless PURGE=1."""

from __future__ import annotations

import marshal
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "opt/onshi"
SITE = f"{PREFIX}/lib/python3.11/site-packages"
# What the machine's own tools would do: none may run for a DESTDIR install.
SYSTEM_TOOLS = (
    "systemctl",
    "systemd-sysusers",
    "systemd-tmpfiles",
    "systemd-creds",
    "apt-get",
    "sudo",
    "chown",
    "chgrp",
    "useradd",
)
EXPECTED = {
    f"{PREFIX}/bin/onshi",
    f"{PREFIX}/bin/onshi-admin",
    f"{PREFIX}/bin/python",
    f"{PREFIX}/pyvenv.cfg",
    f"{PREFIX}/share/onshi/onshi.toml.example",
    f"{PREFIX}/share/doc/onshi/install.md",
    f"{PREFIX}/share/doc/onshi/configuration.md",
    f"{PREFIX}/share/doc/onshi/terminal.md",
    f"{SITE}/device/storekey.py",
    f"{SITE}/web/templates/base.html",
    "usr/local/lib/systemd/system/onshi.service",
    "usr/local/lib/systemd/system/onshi-kiosk.service",
    "usr/local/lib/sysusers.d/onshi.conf",
    "usr/local/lib/tmpfiles.d/onshi.conf",
    "etc/polkit-1/rules.d/60-onshi-pcsc.rules",
    "etc/chromium/policies/managed/onshi.json",
    "etc/onshi/onshi.toml",
}


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A PATH whose system tools only write down that they were called."""
    shims = tmp_path_factory.mktemp("shims")
    log = shims / "calls.log"
    for name in SYSTEM_TOOLS:
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 1\n')
        shim.chmod(0o755)
    yield shims, log


def make(target: str, destdir: Path, tools: tuple[Path, Path], *extra: str) -> str:
    shims, _ = tools
    environ = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), target, f"DESTDIR={destdir}", *extra],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory, tools: tuple[Path, Path]) -> Path:
    destdir = tmp_path_factory.mktemp("root")
    make("install", destdir, tools, "PIP_FLAGS=--no-deps")  # the dependencies are pip's business
    return destdir


def test_the_install_stages_the_expected_tree(staged: Path, tools: tuple[Path, Path]) -> None:
    files = {str(p.relative_to(staged)) for p in staged.rglob("*") if not p.is_dir()}
    assert EXPECTED <= files
    assert not any(f.startswith(("var/", "etc/credstore")) for f in files)  # no data, no key
    config = staged / "etc/onshi/onshi.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert config.read_text() == (ROOT / "systemd/onshi.toml.example").read_text()
    assert (staged / "usr/local/lib/systemd/system/onshi.service").read_bytes() == (
        ROOT / "systemd/onshi.service"
    ).read_bytes()
    assert tools[1].exists() is False  # no systemctl, apt, users or chown for a DESTDIR


def test_the_staged_app_names_the_prefix_it_runs_from_not_the_staging_dir(staged: Path) -> None:
    onshi = (staged / PREFIX / "bin/onshi").read_text()
    assert onshi.startswith("#!/opt/onshi/bin/python")
    admin = (staged / PREFIX / "bin/onshi-admin").read_text()
    assert "/opt/onshi/bin/onshi " in admin and "@PREFIX@" not in admin
    for text_file in [*(staged / PREFIX / "bin").iterdir(), staged / PREFIX / "pyvenv.cfg"]:
        if not text_file.is_symlink():
            assert str(staged) not in text_file.read_text(errors="replace"), text_file
    # Compiled ahead (the unit's file system is read-only), for the path it runs from.
    cached = next((staged / SITE / "device/__pycache__").glob("storekey.*.pyc"))
    code = marshal.loads(cached.read_bytes()[16:])
    assert code.co_filename == f"/{SITE}/device/storekey.py"


def test_an_existing_configuration_is_kept(staged: Path, tools: tuple[Path, Path]) -> None:
    config = staged / "etc/onshi/onshi.toml"
    config.write_text('medical_institution_code = "1399999990"\n')
    output = make("install-files", staged, tools)
    assert "keeping /etc/onshi/onshi.toml" in output
    assert config.read_text() == 'medical_institution_code = "1399999990"\n'


def test_uninstall_keeps_patient_data_unless_purged(
    staged: Path, tools: tuple[Path, Path], tmp_path: Path
) -> None:
    destdir = tmp_path / "root"
    shutil.copytree(staged, destdir, symlinks=True)
    (destdir / "var/lib/onshi").mkdir(parents=True)
    (destdir / "var/lib/onshi/onshi.db").write_bytes(b"patients")
    (destdir / "etc/credstore.encrypted").mkdir(parents=True)
    (destdir / "etc/credstore.encrypted/onshi-store-key").write_bytes(b"sealed")
    output = make("uninstall", destdir, tools)
    assert "kept /var/lib/onshi" in output
    left = {str(p.relative_to(destdir)) for p in destdir.rglob("*") if not p.is_dir()}
    assert left == {
        "var/lib/onshi/onshi.db",
        "etc/credstore.encrypted/onshi-store-key",
        "etc/onshi/onshi.toml",
    }
    make("uninstall", destdir, tools, "PURGE=1")
    assert [p for p in destdir.rglob("*") if not p.is_dir()] == []
    assert not tools[1].exists()


def test_a_prefix_that_is_not_onshis_own_is_refused(
    tools: tuple[Path, Path], tmp_path: Path
) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/keep").write_text("x")
    for prefix in ("/", "/usr", "/opt/"):
        done = subprocess.run(
            ["make", "-C", str(ROOT), "uninstall", f"DESTDIR={tmp_path}", f"PREFIX={prefix}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode != 0 and "PREFIX must be a directory of its own" in done.stdout
    assert (tmp_path / "usr/bin/keep").exists()
