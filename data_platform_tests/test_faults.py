"""Fault points: raise, one-shot across processes (a marker file), and off when not armed."""

import subprocess
import sys

import pytest

from data_platform.faults import FAULTS_ENV, ONCE_ENV, InjectedFault, fault_point


def test_an_armed_point_raises_and_others_do_not(monkeypatch) -> None:
    monkeypatch.setenv(FAULTS_ENV, "a.b, c.d")
    with pytest.raises(InjectedFault, match=r"'c\.d'"):
        fault_point("c.d")
    fault_point("x.y")


def test_a_one_shot_point_fires_once_across_processes(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(FAULTS_ENV, "p.q:exit")
    monkeypatch.setenv(ONCE_ENV, str(tmp_path / "fired"))
    script = "from data_platform.faults import fault_point; fault_point('p.q'); print('past')"
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (first.returncode, first.stdout) == (77, "")
    assert (second.returncode, second.stdout.strip()) == (0, "past")
    assert (tmp_path / "fired.p.q").exists()
