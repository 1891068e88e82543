"""Nothing the appliance offers may be undocumented: settings, commands."""

from __future__ import annotations

from pathlib import Path

from device.cli import COMMANDS
from device.jobs import JOBS
from device.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_configuration_docs() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert not missing, f"undocumented settings: {missing}"


def test_every_scheduled_job_is_in_the_configuration_docs() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [j.name for j in JOBS if f"`{j.name}`" not in text]
    assert not missing, f"undocumented jobs: {missing}"


def test_every_command_is_in_the_readme() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in COMMANDS if f"onshi {c}" not in text]
    assert not missing, f"commands missing from README.md: {missing}"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme and "\nmake test\n" in ci


def test_every_setting_shows_what_it_accepts_in_the_configuration_docs() -> None:
    # The row's third cell is the type and range that parse_setting enforces.
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(): line.split("|")[3].strip()
        for line in text.splitlines()
        if line.startswith("| `")
    }
    wrong = {
        s.name: (rows.get(f"`{s.name}`"), s.range_text)
        for s in SETTINGS
        if rows.get(f"`{s.name}`") != s.range_text
    }
    assert not wrong, f"docs show another range than SETTINGS (shown, declared): {wrong}"
