"""A local run hands the interpreter lock between threads every 50 ms, and gives the caller's interval back."""

from __future__ import annotations

import sys

import pytest
from cdp_local.stack import THREAD_SWITCH_INTERVAL, threads_switching_rarely


def test_a_local_run_switches_threads_every_50_ms_and_restores_the_interval_after_it() -> None:
    # Given the caller's own interval
    before = sys.getswitchinterval()
    assert before != THREAD_SWITCH_INTERVAL
    # When a run is under way, and when it fails
    with pytest.raises(RuntimeError), threads_switching_rarely():
        assert sys.getswitchinterval() == pytest.approx(THREAD_SWITCH_INTERVAL)
        raise RuntimeError("the run failed")
    # Then the interval is the caller's again
    assert sys.getswitchinterval() == before
