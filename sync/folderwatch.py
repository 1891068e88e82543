"""File-system events for the terminal's folders (watchdog: inotify on Linux). The only module
that imports watchdog.

Events are a speed-up only: a mounted SMB share delivers none for the other side's writes, so
every user of these watches rescans as well, and a watch that cannot be had (no such folder yet,
the inotify watch limit) means rescanning alone.

- `NameWatch`: every file name created, changed, moved or deleted anywhere under a root (the
  folder transport's `req/`, `res/` and `trash/`: the name wakes the request waiting for it).
- `FolderWatch`: each file that arrives or changes in one folder (the `face/` inbox).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

# Events that may mean a file is there or complete; opening and reading (our own reads
# included) are not among them, so reading a half-written file does not wake its reader.
_NAMING_EVENTS = frozenset({"created", "modified", "moved", "closed", "deleted"})
# Events after which a file may have arrived, or grown complete, in a watched folder.
_ARRIVING_EVENTS = frozenset({"created", "modified", "moved", "closed"})


class _CallWithName(FileSystemEventHandler):
    def __init__(self, on_name: Callable[[str], None]) -> None:
        self._on_name = on_name

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _NAMING_EVENTS:
            return
        for path in (event.src_path, event.dest_path):
            if path:
                self._on_name(os.path.basename(os.fsdecode(path)))


class _CallOnFile(FileSystemEventHandler):
    def __init__(self, on_file: Callable[[Path], None]) -> None:
        self._on_file = on_file

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in _ARRIVING_EVENTS:
            return
        # A file moved in arrives under its new name; one written in place under its own.
        path = event.dest_path if event.event_type == "moved" else event.src_path
        if path:
            self._on_file(Path(os.fsdecode(path)))


def _started(
    handler: FileSystemEventHandler, folder: Path, *, recursive: bool, name: str
) -> BaseObserver:
    """An observer thread delivering `folder`'s events to `handler`; OSError when it cannot."""
    observer = Observer()
    observer.name = name
    observer.schedule(handler, str(folder), recursive=recursive)
    observer.start()
    return observer


def _stop(observer: BaseObserver) -> None:
    observer.unschedule_all()
    observer.stop()
    if observer.is_alive() and threading.current_thread() is not observer:
        observer.join(5)


class NameWatch:
    """`on_name(name)` for each file name an event names anywhere under `root`, on the
    watcher's own thread (it must return quickly and must not raise).

    One watch of the whole root, not one per folder: a file moved from res/ to trash/ is then
    one event (inotify pairs the two halves of a move only within one watch; an unpaired half
    holds every later event back for half a second). The watch holds `on_name` only, so what
    owns the watch may be collected and stop it (weakref.finalize on `stop`)."""

    def __init__(self, root: Path, on_name: Callable[[str], None], *, name: str) -> None:
        self.root = root
        self._on_name = on_name
        self._name = name
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        """OSError when no events can be had (e.g. the inotify watch limit)."""
        if self._observer is None:
            handler = _CallWithName(self._on_name)
            self._observer = _started(handler, self.root, recursive=True, name=self._name)

    @property
    def alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            _stop(observer)


class FolderWatch:
    """File-system events for one folder (the terminal's `face/`): `on_file(path)` for each file
    that arrives or changes there, on the watcher's own thread, so it must return quickly and
    must not raise. The caller rescans as well. `start()` returns False when no events can be
    had (no such folder yet, the inotify watch limit)."""

    def __init__(self, folder: Path, on_file: Callable[[Path], None]) -> None:
        self.folder = folder
        self._on_file = on_file
        self._observer: BaseObserver | None = None

    def start(self) -> bool:
        if self._observer is not None:
            return True
        if not self.folder.is_dir():
            return False
        try:
            handler = _CallOnFile(self._on_file)
            self._observer = _started(handler, self.folder, recursive=False, name="face-folder")
        except OSError as exc:
            log.warning("no file-system events for %s (%s): rescanning only", self.folder, exc)
            return False
        return True

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            _stop(observer)
