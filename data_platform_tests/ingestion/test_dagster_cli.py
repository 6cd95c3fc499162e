"""The code location through Dagster's own CLI, in subprocesses, on a temp instance."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from data_platform.cli.demo import materialize_command
from data_platform_tests.conftest import REPO_ROOT, query


@pytest.fixture
def cli_env(dagster_home: Path) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(dagster_home)}


def run(env: dict[str, str], command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_definitions_validate(cli_env) -> None:
    command = [sys.executable, "-m", "dagster", "definitions", "validate"]
    result = run(cli_env, [*command, "-m", "data_platform.definitions"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


def test_data_platform_help_lists_commands() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "data-platform"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "demo" in result.stdout and "serve-api" in result.stdout


def test_cli_single_partition_and_range(cli_env, warehouse_path) -> None:
    one = run(cli_env, materialize_command("raw_orders", "--partition", "2024-01-15"))
    assert one.returncode == 0, one.stderr[-3000:]
    assert query(warehouse_path, "SELECT DISTINCT partition_date::VARCHAR FROM raw.orders") == [
        ("2024-01-15",)
    ]
    rng = run(
        cli_env, materialize_command("raw_orders", "--partition-range", "2024-01-01...2024-01-31")
    )
    assert rng.returncode == 0, rng.stderr[-3000:]
    days, runs = query(
        warehouse_path,
        "SELECT COUNT(DISTINCT partition_date), COUNT(DISTINCT etl_run_id) FROM raw.orders",
    )[0]
    assert (days, runs) == (31, 1), "31 days in ONE run (single-run backfill policy)"


def test_cli_refuses_a_bad_partition_key(cli_env, warehouse_path) -> None:
    bad = run(cli_env, materialize_command("raw_orders", "--partition", "2024-01-01; DROP TABLE x"))
    assert bad.returncode != 0
    assert "2024-01-01; DROP TABLE x" in bad.stderr + bad.stdout
    assert not warehouse_path.exists()


def test_two_writing_runs_at_once_are_serialized_by_the_pool(
    cli_env, dagster_home, warehouse_path, monkeypatch
) -> None:
    """Both runs succeed, and their warehouse-writing steps never overlap in time."""
    commands = [
        materialize_command("raw_orders", "--partition-range", "2024-04-01...2024-05-15"),
        materialize_command("raw_order_items", "--partition-range", "2024-06-01...2024-07-15"),
    ]
    procs = [
        subprocess.Popen(
            c,
            cwd=REPO_ROOT,
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for c in commands
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outputs)

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        windows = []
        for run in runs:
            events = {
                e.dagster_event.event_type: e.timestamp
                for e in instance.all_logs(run.run_id)
                if e.dagster_event is not None and e.dagster_event.is_step_event
            }
            windows.append(
                (events[dg.DagsterEventType.STEP_START], events[dg.DagsterEventType.STEP_SUCCESS])
            )
    (_, first_end), (second_start, _) = sorted(windows)
    assert first_end <= second_start, f"steps overlapped: {windows}"
    assert query(warehouse_path, "SELECT COUNT(DISTINCT partition_date) FROM raw.orders") == [(45,)]
    assert query(warehouse_path, "SELECT COUNT(DISTINCT partition_date) FROM raw.order_items") == [
        (45,)
    ]


def dg_command(*args: str) -> list[str]:
    """Dagster's project CLI from this venv; it finds the project through pyproject's [tool.dg]."""
    return [str(Path(sys.executable).with_name("dg")), *args]


def test_dg_check_defs(cli_env) -> None:
    result = run(cli_env, dg_command("check", "defs"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_shows_the_whole_graph(cli_env) -> None:
    from data_platform.definitions import defs

    result = run(cli_env, dg_command("list", "defs", "--json"))
    assert result.returncode == 0, result.stderr[-3000:]
    listed = {a["asset_key"] for a in json.loads(result.stdout)["assets"]}
    graph = defs.get_repository_def().asset_graph
    assert listed == {k.to_user_string() for k in graph.get_all_asset_keys()}


def test_dg_launch_one_partition(cli_env, warehouse_path) -> None:
    result = run(
        cli_env, dg_command("launch", "--assets", "raw_orders", "--partition", "2024-02-10")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert query(warehouse_path, "SELECT DISTINCT partition_date::VARCHAR FROM raw.orders") == [
        ("2024-02-10",)
    ]
