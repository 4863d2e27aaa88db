"""``interrupts.deferred``: a signal during the function is acted on once it returns."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from shlax_front.backend import interrupts
from shlax_front.backend.interrupts import signals_as_interrupt


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """SIGINT handled as Python handles it in a terminal (``KeyboardInterrupt``), whatever the test run
    inherited: a run started in the background by a shell has SIGINT ignored, and Python then leaves it so."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_during_the_function_is_raised_once_it_has_returned():
    done = []

    @interrupts.deferred
    def commit_then_record() -> str:
        os.kill(os.getpid(), signal.SIGINT)
        done.append("recorded")
        return "image"

    with pytest.raises(KeyboardInterrupt):
        commit_then_record()
    assert done == ["recorded"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_in_a_build_is_the_interrupt_after_the_function_even_when_it_failed():
    @interrupts.deferred
    def failing() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        raise RuntimeError("buildah commit failed")

    with signals_as_interrupt(), pytest.raises(KeyboardInterrupt):
        failing()


def test_without_a_signal_nothing_changes():
    assert interrupts.deferred(lambda x: x + 1)(1) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        seen = []
        interrupts.deferred(lambda: seen.append(signal.getsignal(signal.SIGINT)))()
        assert seen == [signal.SIG_IGN]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_the_function_runs_as_it_is():
    seen = []
    worker = threading.Thread(
        target=interrupts.deferred(lambda: seen.append(signal.getsignal(signal.SIGINT)))
    )
    worker.start()
    worker.join()
    assert seen == [signal.default_int_handler]
