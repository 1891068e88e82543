"""Demo only: places and removes virtual cards by running the card simulator as a child process.

The appliance never imports the simulators; it starts `python -m sim card` like an operator
would, so the card reaches the appliance through the real pcscd + vpcd path.
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
                    p["id"], p["name"], p["kana"], p["scenario"], p["pin"], p["card"] != "none"
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
