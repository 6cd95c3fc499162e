"""The CLI cookbook command for "a selection with downstream", run as written, then
gated by `data-platform checks` on the same instance."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import dagster as dg

from data_platform_tests.conftest import REPO_ROOT


def cookbook_downstream_command() -> list[str]:
    """The docs/operations.md line materializing a selection with its descendants (`name*`)."""
    readme = (REPO_ROOT / "docs" / "operations.md").read_text()
    [line] = [x for x in readme.splitlines()
              if x.startswith("dagster asset materialize $M --select '") and "*" in x]  # fmt: skip
    return shlex.split(line.replace("$M", "-m data_platform.definitions"))


def test_readme_downstream_selection_runs_and_passes_the_gate(dagster_home: Path) -> None:
    command = cookbook_downstream_command()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    run = subprocess.run([str(bin_dir / command[0]), *command[1:]], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    partition = command[command.index("--partition") + 1]

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        selected = re.findall(r"(\w+)\*", command[command.index("--select") + 1])
        for asset in [*selected, "fact_orders"]:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None, f"{asset} was not materialized"
            materialization = event.asset_materialization
            assert materialization is not None and materialization.partition == partition

    gate = subprocess.run([str(bin_dir / "data-platform"), "checks"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert gate.returncode == 0, gate.stdout[-4000:]
    assert re.search(
        r"^fact_orders\s+unique_fact_orders_order_id\s+\S+\s+PASSED", gate.stdout, re.M
    )
