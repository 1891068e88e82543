"""The fault drills: each one does something that goes wrong in a clinic, many times or at every
step, and fails on any loss. Each reports its figure with the `figure` fixture; the figures are
printed together at the end of the run.

`make test` runs every drill with a small fixed-seed budget; `make drills` runs them with
`--drill-budget large`. A drill scales its repetitions with the `drill_budget` fixture.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import DRILL_BUDGETS

_FIGURES_KEY = pytest.StashKey[list[tuple[str, str]]]()


@pytest.fixture(scope="session")
def drill_budget(request: pytest.FixtureRequest) -> int:
    """A multiplier for repetitions and fuzz cases: 1 in the suite, 10 from `make drills`."""
    return DRILL_BUDGETS[str(request.config.getoption("--drill-budget"))]


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a drill's measured figure (one line, numbers included) for the end-of-run table."""
    figures = request.config.stash.setdefault(_FIGURES_KEY, [])

    def record(text: str) -> None:
        figures.append((request.node.nodeid, text))

    return record


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    figures = config.stash.get(_FIGURES_KEY, [])
    if not figures:
        return
    terminalreporter.section("drill figures")
    for nodeid, text in figures:
        terminalreporter.write_line(f"{nodeid.split('::')[-1]}: {text}")
