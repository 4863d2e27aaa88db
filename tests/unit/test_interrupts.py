"""SIGTERM and SIGHUP end a build the way Ctrl-C does (its clean-up runs), in the normal path and in a late edit
redone from its record; the handlers before come back afterwards."""

from __future__ import annotations

import os
import signal

import pytest

from shlax_front.backend import late_edit, replay
from shlax_front.backend.interrupts import signals_as_interrupt


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_is_a_keyboard_interrupt_inside_only(sig):
    before = signal.getsignal(sig)
    with pytest.raises(KeyboardInterrupt), signals_as_interrupt():
        os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) is before


def test_a_late_edit_is_interrupted_by_sigterm_and_cleans_up(tmp_path, monkeypatch):
    """``late_edit.redo`` removes its containers in a ``finally``: SIGTERM must reach it as an exception, and
    that exception must end the build (never be taken for a reason to fall back to the normal path)."""
    cleaned = []
    before = signal.getsignal(signal.SIGTERM)

    def redo(*args, **kwargs):
        assert signal.getsignal(signal.SIGTERM) is not before  # else the kill below would end the tests
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            cleaned.append(True)

    monkeypatch.setattr(late_edit, "redo", redo)
    record = {"tail": {}, "tags": [], "steps": []}
    with pytest.raises(KeyboardInterrupt):
        replay._late_edit(record, tmp_path, {}, tmp_path / "record.json")
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is before
