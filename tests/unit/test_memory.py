"""The allocator settings the run path applies (device/memory.py)."""

from __future__ import annotations

import pytest

from device import memory


class FakeMallopt:
    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.calls: list[tuple[int, int]] = []
        self._refuse = refuse

    def __call__(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 0 if parameter in self._refuse else 1


def test_fixed_mmap_threshold_and_two_arenas(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMallopt()
    monkeypatch.setattr(memory, "_mallopt", lambda: fake)
    applied = memory.tune_malloc(environ={})
    assert applied == {
        "MALLOC_ARENA_MAX": 2,
        "MALLOC_MMAP_THRESHOLD_": 256 * 1024,
        "MALLOC_TRIM_THRESHOLD_": 512 * 1024,
    }
    assert (memory.M_MMAP_THRESHOLD, 256 * 1024) in fake.calls
    # Below argon2id's 19 MiB sign-in buffer: that one is always mapped, and unmapped when freed.
    assert memory.MMAP_THRESHOLD < 19 * 1024 * 1024


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMallopt()
    monkeypatch.setattr(memory, "_mallopt", lambda: fake)
    applied = memory.tune_malloc(environ={"MALLOC_ARENA_MAX": "4"})
    assert "MALLOC_ARENA_MAX" not in applied
    assert all(parameter != memory.M_ARENA_MAX for parameter, _ in fake.calls)


def test_a_refused_setting_is_not_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMallopt(refuse=frozenset({memory.M_TRIM_THRESHOLD}))
    monkeypatch.setattr(memory, "_mallopt", lambda: fake)
    assert "MALLOC_TRIM_THRESHOLD_" not in memory.tune_malloc(environ={})


def test_nothing_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_mallopt", lambda: None)
    assert memory.tune_malloc(environ={}) == {}


def test_the_real_mallopt_is_found_here() -> None:
    """This machine's C library is glibc (Debian): the setting reaches the allocator."""
    assert memory._mallopt() is not None


def test_thread_stacks_are_smaller_than_the_default() -> None:
    import threading

    before = memory.tune_threads()
    try:
        assert threading.stack_size() == memory.THREAD_STACK
        ran = threading.Event()
        thread = threading.Thread(target=ran.set)
        thread.start()
        thread.join()
        assert ran.is_set()
    finally:
        threading.stack_size(before)


def test_threads_hand_the_interpreter_on_sooner() -> None:
    import sys

    before = sys.getswitchinterval()  # an appliance started in this process may have set it
    sys.setswitchinterval(0.005)  # Python's default
    try:
        assert memory.tune_switching() == pytest.approx(0.005)
        assert sys.getswitchinterval() == pytest.approx(memory.SWITCH_INTERVAL_S)
        assert memory.SWITCH_INTERVAL_S < 0.005
    finally:
        sys.setswitchinterval(before)
