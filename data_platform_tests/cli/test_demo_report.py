"""`make demo`'s command end to end (local broker + `data-platform demo`, one day): it succeeds
and its output ends with the asset-check report read back from its own instance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_platform_tests.conftest import REPO_ROOT

# The demo runs every domain, Spark and Kafka included: slow tier.
pytestmark = [pytest.mark.spark, pytest.mark.kafka]


def test_demo_ends_with_check_report(dagster_home: Path) -> None:
    script = str(Path(sys.executable).with_name("data-platform"))
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    command = [script, "broker", "--port", "0", "--", script, "demo", "--days", "1"]
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tail = result.stdout[result.stdout.rindex("Asset checks (latest evaluation") :]
    lines = tail.splitlines()
    assert lines[1].split()[:4] == ["asset", "check", "partition", "result"]
    assert any(line.startswith("raw_orders") and "partition_not_empty" in line for line in lines)
    assert lines[-1].endswith("no ERROR-severity failures"), "the report must be the last output"
