"""The composition root: web-free parts apart from the one module that assembles the pages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(imports: str) -> set[str]:
    """Top-level modules loaded by a fresh interpreter after `imports`."""
    code = (
        f"import sys\n{imports}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_commands_that_serve_no_pages_do_not_load_the_web() -> None:
    # `onshi card info/check`, `admin create-user`, `audit verify` and `settings` build from
    # these modules only.
    loaded = loaded_after(
        "import device.cli, device.parts, device.technician, device.confirm, device.checks"
    )
    assert "device" in loaded
    assert not {"flask", "werkzeug", "jinja2", "web"} & loaded


def test_the_assembling_module_is_the_one_that_loads_the_web() -> None:
    assert {"flask", "web"} <= loaded_after("import device.appliance")
