"""`data-platform demo` ends with the asset-check report read back from its own instance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from data_platform_tests.conftest import REPO_ROOT


def test_demo_ends_with_check_report(dagster_home: Path) -> None:
    script = Path(sys.executable).with_name("data-platform")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home),
           # Nothing must reach out: a closed port for any Kafka step other issues add.
           "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}  # fmt: skip
    result = subprocess.run([script, "demo", "--days", "1"], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tail = result.stdout[result.stdout.rindex("Asset checks (latest evaluation") :]
    lines = tail.splitlines()
    assert lines[1].split()[:4] == ["asset", "check", "partition", "result"]
    assert any(line.startswith("raw_orders") and "partition_not_empty" in line for line in lines)
    assert lines[-1].endswith("no ERROR-severity failures"), "the report must be the last output"
