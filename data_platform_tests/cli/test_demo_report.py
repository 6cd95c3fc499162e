"""`make demo`'s command end to end (local broker + `data-platform demo`, one day): it succeeds,
counts its steps, keeps Dagster's logs in a file, fits 100 columns, and ends with the
asset-check report read back from its own instance, then the next steps."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from data_platform.cli import demo
from data_platform_tests.conftest import REPO_ROOT

# The demo runs every domain, Spark and Kafka included: slow tier.
pytestmark = [pytest.mark.spark, pytest.mark.kafka]


def test_demo_ends_with_check_report(dagster_home: Path) -> None:
    script = str(Path(sys.executable).with_name("data-platform"))
    bin_dir = str(Path(sys.executable).parent)
    env = {**{k: v for k, v in os.environ.items() if k != "DAGSTER_PORT"},
           "DAGSTER_HOME": str(dagster_home),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    command = [script, "broker", "--port", "0", "--", script, "demo", "--days", "1"]
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    too_wide = [line for line in (out + result.stderr).splitlines() if len(line) > 100]
    assert not too_wide, too_wide

    steps = [line for line in out.splitlines() if re.match(r"\[ ?\d+/\d+ +\d+:\d\d\] ", line)]
    total = demo.STEPS
    assert [int(line[1:3]) for line in steps] == list(range(1, total + 1)), steps
    assert all(line.endswith(" s") for line in steps if " raw_" in line), steps
    first, last = demo.demo_days(None, 1)  # yesterday: among the days the UI lists first
    assert any(f"raw_orders,raw_order_items,raw_customers {first}...{last}" in x for x in steps)

    assert " - dagster - " not in out and "DEBUG" not in out  # Dagster's logs are in the file
    log = Path(os.environ["DATA_PLATFORM_STATE_DIR"]) / "demo.log"
    assert "$ dagster asset materialize --select raw_orders" in log.read_text()

    report = out[out.rindex("Asset checks (latest evaluation") : out.rindex("Next steps")]
    lines = report.strip().splitlines()
    assert lines[1].split()[:5] == ["asset", "/", "check", "result", "severity"]
    assert "raw_orders" in [line.split()[0] for line in lines if line.strip()]
    assert any("partition_not_empty" in line and "PASSED" in line for line in lines)
    assert lines[-1].endswith("no ERROR-severity failures"), "the report is the last table"

    after = out[out.rindex("Next steps") :]
    warehouse = os.environ["DATA_PLATFORM_WAREHOUSE"]
    assert "make dev" in after and "http://127.0.0.1:3000" in after
    assert warehouse in after.replace("\n    ", "")
    assert f" sql '{demo.EXAMPLE_QUERY}'" in after  # on one line: ready to copy
    assert "demo.log" in after
    assert f"The demo's days, {first}...{last}," in after
