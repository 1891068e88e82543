"""pytest --clock-shift-days N (tests/conftest.py): Python's wall clock moved N days for a whole
run, still ticking; the monotonic clocks (timeouts, threads) and child processes left alone."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

DAY_S = 86400
REPO = Path(__file__).resolve().parents[2]


def _child(expression: str) -> float:
    """What a child process (never shifted) reads from one of its clocks."""
    out = subprocess.run(
        [sys.executable, "-c", f"import time; print(repr({expression}))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return float(out.stdout)


def test_python_clock_is_moved_by_the_option(request: pytest.FixtureRequest) -> None:
    shift_s = request.config.getoption("clock_shift_days") * DAY_S
    before = time.time()
    real = _child("time.time()")
    after = time.time()
    assert before - shift_s - 1 <= real <= after - shift_s + 1
    assert abs(datetime.now(UTC).timestamp() - time.time()) < 1  # datetime moved alike


def test_the_shifted_clock_ticks() -> None:
    wall, stamp = time.time(), datetime.now(UTC)
    time.sleep(0.02)
    assert time.time() - wall >= 0.01
    assert (datetime.now(UTC) - stamp).total_seconds() >= 0.01


def test_monotonic_clocks_and_timeouts_are_not_shifted() -> None:
    before = time.monotonic()
    real = _child("time.monotonic()")  # CLOCK_MONOTONIC is the same for every process
    after = time.monotonic()
    assert before <= real <= after
    assert abs(time.perf_counter() - time.monotonic()) < DAY_S  # both the system's, unmoved
    lock = threading.Lock()
    lock.acquire()
    started = time.monotonic()
    assert not lock.acquire(timeout=0.05)  # returns (libfaketime made this hang)
    assert 0.04 <= time.monotonic() - started < 5


@pytest.mark.parametrize("days", [400, -35])
def test_the_option_shifts_a_whole_run(days: int) -> None:
    """Runs the tests above in a pytest of their own with the option: they fail there if the
    option does not move the clock by exactly that much, or stops it ticking."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--clock-shift-days={days}",
            f"{Path(__file__).relative_to(REPO)}",
            "-k",
            "not whole_run",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"clock shifted {days:+d} days" in run.stdout
    assert "3 passed" in run.stdout
