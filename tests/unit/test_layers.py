"""The arrows of DESIGN.md (Layout) are import-linter contracts in pyproject.toml.

The repository keeps them, and each contract fails when a copy of the code gets the wrong import:
a contract that could not fail would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("device", "reader", "sync", "web", "sim")


def lint(where: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first, so a copy's packages are analysed rather than the installed checkout.
    env = {**os.environ, "PYTHONPATH": str(where), "COLUMNS": "200"}  # one contract per line
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_repository_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, where / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    return where


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        ("sync/clock.py", "import web.app", "arrows point one way"),
        ("reader/jpki.py", "import device.config", "arrows point one way"),
        ("reader/jpki.py", "import sync.clock", "arrows point one way"),  # siblings, independent
        ("device/events.py", "import web.sse", "arrows point one way"),
        ("device/demo.py", "import sim.card", "never imports the simulators"),
        ("sim/card.py", "import sync.store", "sim speaks the wire format only"),
        ("sim/card.py", "import device.config", "sim speaks the wire format only"),
        ("device/flow.py", "import smartcard.scard", "pyscard only"),
        ("web/present.py", "import sqlite3", "SQL only in the store"),
        ("device/events.py", "import httpx", "httpx only"),
        ("sync/central.py", "import watchdog.observers", "watchdog only"),
        ("sim/cli.py", "import sync.folders", "sim speaks the wire format only"),
        ("device/events.py", "import flask", "Flask and the WSGI server only"),
        ("web/present.py", "import serial", "pyserial only in device/signal.py"),
        ("device/ticket.py", "import serial", "pyserial only in device/signal.py"),
        ("device/signal.py", "import escpos.printer", "python-escpos only in device/ticket.py"),
        ("sync/clock.py", "import sync.store", "No import cycles"),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tree_copy: Path, module: str, statement: str, contract: str
) -> None:
    path = tree_copy / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{statement}  # noqa\n", encoding="utf-8")
    try:
        result = lint(tree_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(contract in line for line in broken), result.stdout
