"""Demo only: places cards on the two readers of the demo by running the simulators' own
commands as child processes, as an operator would (the appliance never imports the simulators).

- This box's reader (`CardSandbox`): `python -m sim card` plays the card on the vpcd reader, so
  it reaches the appliance through the real pcscd + vpcd path.
- The official terminal's reader (`OfficialReader`, central_mode = folders): `python -m sim
  face --root <terminal_root>` hands the card to the running simulated terminal (`onshi sim
  terminal`), which makes the visit and writes its face file into `face/`, where the
  appliance's face watcher picks it up as it would the real terminal's. The hand-over is a
  small request file in a folder the terminal already polls (sim/terminal.py says why): no
  port, no server, and the command returns once the terminal has taken the card.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from reader.pcsc import REINSERT_GAP_S


@dataclass(frozen=True)
class DemoPerson:
    id: str
    name: str
    kana: str
    scenario: str
    pin: str
    has_card: bool  # False: this person has only a 資格確認書, no My Number card to place
    # The numbers a 資格確認書 carries (insurer, symbol, number, branch) and the birth date
    # (YYYYMMDD), for trying the numbers path.
    insurer_number: str = ""
    symbol: str = ""
    number: str = ""
    branch: str = ""
    birthdate: str = ""
    certificate: bool = False  # holds a 資格確認書 instead of a card


class CardSandbox:
    def __init__(self, data_dir: Path, reader_index: int = 0) -> None:
        self._data_dir = data_dir
        self._reader_index = reader_index
        self._lock = threading.Lock()
        self._card: subprocess.Popen[bytes] | None = None
        self._person: str | None = None
        self._removed_at = 0.0
        self._people: list[DemoPerson] | None = None

    def _sim(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sim", *args]

    def people(self) -> list[DemoPerson]:
        if self._people is None:
            out = subprocess.run(
                self._sim("people", "--json"), capture_output=True, check=True, timeout=60
            ).stdout
            self._people = [
                DemoPerson(
                    p["id"],
                    p["name"],
                    p["kana"],
                    p["scenario"],
                    p["pin"],
                    p["card"] != "none",
                    insurer_number=p["insurer_number"],
                    symbol=p["symbol"],
                    number=p["number"],
                    branch=p["branch"],
                    birthdate=p["birthdate"],
                    certificate=bool(p["certificate"]),
                )
                for p in json.loads(out)
            ]
        return self._people

    @property
    def placed(self) -> str | None:
        with self._lock:
            if self._card is not None and self._card.poll() is not None:
                self._card, self._person = None, None
            return self._person

    def place(self, person_id: str) -> None:
        if person_id not in {p.id for p in self.people() if p.has_card}:
            raise KeyError(person_id)
        with self._lock:
            self._remove_locked()
            wait = self._removed_at + REINSERT_GAP_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._card = subprocess.Popen(
                self._sim(
                    "card",
                    "--person",
                    person_id,
                    "--reader",
                    str(self._reader_index),
                    "--data",
                    str(self._data_dir),
                ),
                stdout=subprocess.DEVNULL,
            )
            self._person = person_id

    def remove(self) -> None:
        with self._lock:
            self._remove_locked()

    def _remove_locked(self) -> None:
        if self._card is None:
            return
        self._card.terminate()
        try:
            self._card.wait(5)
        except subprocess.TimeoutExpired:
            self._card.kill()
            self._card.wait()
        self._card, self._person = None, None
        self._removed_at = time.monotonic()

    def close(self) -> None:
        self.remove()


OFFICIAL_TIMEOUT_S = 5.0  # for the terminal to take the card (it looks every few ms)


class OfficialReaderError(Exception):
    """The simulated terminal did not take the card (not running, or silent)."""


class OfficialReader:
    """The simulated official terminal's face-authentication reader at `terminal_root`."""

    def __init__(self, terminal_root: Path, timeout_s: float = OFFICIAL_TIMEOUT_S) -> None:
        self._root = terminal_root
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self.last: str | None = None  # the last person whose card the terminal took

    def place(self, person_id: str) -> None:
        """Return once the terminal has taken the card; its face file follows after the
        terminal's own delay. OfficialReaderError when it does not take it."""
        command = [
            sys.executable,
            "-m",
            "sim",
            "face",
            "--root",
            str(self._root),
            "--person",
            person_id,
            "--timeout",
            repr(self._timeout_s),
        ]
        with self._lock:
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=self._timeout_s + 30
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise OfficialReaderError(str(exc)) from None
            if done.returncode != 0:
                raise OfficialReaderError(done.stderr.strip()[-500:] or f"exit {done.returncode}")
            self.last = person_id
