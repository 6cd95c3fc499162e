"""Start dbt before dagster-dbt is imported, when a step runs its whole dbt asset.

Importing dagster-dbt takes ~2 s of a step (`dagster_dbt.compat` imports dbt-core's artifact,
contract and adapter modules), and dbt's own start-up in its subprocess about as long. When a
step runs every model and check of its asset (the daily chain, a backfill, the snapshot), the
dbt command is known without dagster-dbt: the asset's select/exclude tags, which is what
dagster-dbt's `get_subset_selection_for_context` returns for a whole asset. So dbt starts first,
dagster-dbt is imported on the other core while dbt starts, and dagster-dbt's `DbtCliInvocation`
then reads that process's events as if it had started it. A step that runs a subset, or a dbt
that is not this venv's (its version unknown without running it), goes through dagster-dbt's
`DbtCliResource.cli` as before.

The command and environment are the ones `DbtCliResource.cli` builds (dagster-dbt 0.29): recheck
them when upgrading it (`test_early_start.py` holds the two paths to the same selection, rows
and checks).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from data_platform.dbt.project import dbt_executable

INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"
# dbt's default (eager) would also run a test of an unselected model that merely reads a
# selected one: a staging-only step would run fact_orders' relationship test to stg_customers,
# before or without fact_orders. `buildable` keeps a test when every model it reads is selected
# or upstream of the selection; dagster-dbt's own choice for a subset and the user's setting
# come first.
DEFAULT_INDIRECT_SELECTION = "buildable"
_SELECTION_TAGS = (
    ("--select", "dagster_dbt/select"),
    ("--exclude", "dagster_dbt/exclude"),
    ("--selector", "dagster_dbt/selector"),
)
STARTED_EARLY = "Running dbt command (started before dagster-dbt is imported)"


def indirect_selection(dagster_dbt_choice: str | None = None) -> str:
    """dbt's indirect selection for a step: dagster-dbt's choice for a subset (`empty`, when
    some checks of the selected models are deselected), else the user's setting, else
    `buildable`."""
    return (
        dagster_dbt_choice or os.environ.get(INDIRECT_SELECTION_ENV) or DEFAULT_INDIRECT_SELECTION
    )


def whole_asset_selection(context: dg.AssetExecutionContext) -> list[str] | None:
    """The dbt selection arguments of a step that runs every model and check of its asset, as
    dagster-dbt computes them then; None when the step runs a subset."""
    assets_def = context.assets_def
    if (
        assets_def.keys_by_output_name != assets_def.node_keys_by_output_name
        or assets_def.check_specs_by_output_name != assets_def.node_check_specs_by_output_name
    ):
        return None
    selection: list[str] = []
    for flag, tag in _SELECTION_TAGS:
        value = context.op.tags.get(tag)
        if value:
            selection += [flag, value]
    return selection


def start(
    context: dg.AssetExecutionContext, project_dir: Path, args: Sequence[str], target: Path
) -> subprocess.Popen[bytes] | None:
    """`dbt <args>` for the whole asset, started now; None when the step runs a subset or the
    dbt executable is not the venv's."""
    selection = whole_asset_selection(context)
    executable = dbt_executable()
    if selection is None or executable == "dbt":
        return None
    command = [executable, *args, *selection]
    context.log.info(f"{STARTED_EARLY}: `{' '.join(command)}`.")
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dbt_environment(project_dir, target),
        cwd=project_dir,
    )


def dbt_environment(project_dir: Path, target: Path) -> dict[str, str]:
    """The environment `DbtCliResource.cli` gives dbt: this process's, structured JSON logs,
    artifacts and logs in `target`, the profile and project in `project_dir`."""
    return {
        **os.environ,
        INDIRECT_SELECTION_ENV: indirect_selection(),
        "DAGSTER_DBT_CLI": "true",
        "PYTHONUNBUFFERED": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_FORMAT": "json",
        "DBT_TARGET_PATH": os.fspath(target),
        "DBT_LOG_PATH": os.fspath(target),
        "DBT_PROFILES_DIR": os.fspath(project_dir),
        "DBT_PROJECT_DIR": os.fspath(project_dir),
    }
