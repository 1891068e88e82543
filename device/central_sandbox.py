"""Demo only: switches the simulated central's failure modes from the sandbox page.

Like the card sandbox, it runs the simulator's own command (`python -m sim control`) as an
operator would, so the appliance never imports the simulators nor talks to them itself.
Meanings only: the words for the modes are in web/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

CONTROL_TIMEOUT_S = 30.0


class SimMode(StrEnum):
    NORMAL = "normal"
    DOWN = "down"
    SLOW = "slow"
    FLAPPING = "flapping"


@dataclass(frozen=True)
class SimCentralState:
    mode: SimMode
    down: bool  # unreachable right now (flapping: this phase)
    slow_s: float
    flap_s: float
    changed_after_recovery: bool
    answers_changed: bool
    recoveries: int


class SimControlError(Exception):
    """The simulator's control could not be reached or refused the switch."""


class CentralSandbox:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir

    def state(self) -> SimCentralState:
        return self._run([])

    def switch(
        self,
        mode: SimMode,
        *,
        slow_s: float | None = None,
        flap_s: float | None = None,
        changed_after_recovery: bool | None = None,
    ) -> SimCentralState:
        args = ["--mode", mode.value]
        if slow_s is not None:
            args += ["--slow-s", repr(float(slow_s))]
        if flap_s is not None:
            args += ["--flap-s", repr(float(flap_s))]
        if changed_after_recovery is not None:
            args.append(
                "--changed-after-recovery"
                if changed_after_recovery
                else "--no-changed-after-recovery"
            )
        return self._run(args)

    def _run(self, args: list[str]) -> SimCentralState:
        command = [sys.executable, "-m", "sim", "control", "--data", str(self._data_dir)]
        try:
            done = subprocess.run(
                [*command, *args, "--json"],
                capture_output=True,
                text=True,
                timeout=CONTROL_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SimControlError(str(exc)) from None
        if done.returncode != 0:
            raise SimControlError(done.stderr.strip()[-500:] or f"exit {done.returncode}")
        try:
            raw = json.loads(done.stdout)
            return SimCentralState(
                mode=SimMode(raw["mode"]),
                down=bool(raw["down"]),
                slow_s=float(raw["slow_s"]),
                flap_s=float(raw["flap_s"]),
                changed_after_recovery=bool(raw["changed_after_recovery"]),
                answers_changed=bool(raw["answers_changed"]),
                recoveries=int(raw["recoveries"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SimControlError(f"unexpected answer: {exc}") from None
