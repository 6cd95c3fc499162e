"""dbt unit tests (`unit_tests:` in the model YAML) run with real dbt on a real DuckDB file."""

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster_dbt import DbtProject

from data_platform.dbt.project import DBT_PROJECT_DIR, ensure_manifest
from data_platform.lib.warehouse import ensure_raw_schema
from data_platform_tests.dbt.conftest import dbt_command, statuses

UNIT_TESTS = ["test", "--select", "test_type:unit"]


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Path:
    """Empty raw tables and the staging views: unit tests read only their inputs' column types
    (and write nothing, so the tests share one file)."""
    path = tmp_path_factory.mktemp("unit_tests") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_raw_schema(conn)
    results = dbt_command(path, ["run", "--select", "staging"])
    assert set(statuses(results).values()) == {"success"}
    return path


def unit_test_ids(project_dir: Path) -> set[str]:
    """The unit tests the model YAML declares, as dbt ids (unit_test.<project>.<model>.<name>)."""
    declared = set()
    for path in (project_dir / "models").rglob("*.yml"):
        for test in yaml.safe_load(path.read_text()).get("unit_tests", []):
            declared.add(f"unit_test.data_platform.{test['model']}.{test['name']}")
    return declared


def test_every_unit_test_runs_and_passes(staged: Path) -> None:
    results = statuses(dbt_command(staged, UNIT_TESTS))

    declared = unit_test_ids(DBT_PROJECT_DIR)
    assert len(declared) >= 6  # the staging models and fact_orders each have some
    assert {uid.split(".")[2] for uid in declared} == {
        "stg_orders", "stg_customers", "stg_order_items", "fact_orders",
    }  # fmt: skip
    assert results == dict.fromkeys(declared, "pass")


def test_a_wrong_expected_row_fails_its_unit_test(staged: Path, tmp_path: Path) -> None:
    """The same unit tests in a copy of the project where one expected value is wrong."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    marts = copy / "models" / "marts" / "_marts.yml"
    spec = yaml.safe_load(marts.read_text())
    broken = spec["unit_tests"][0]
    broken["expect"]["rows"][0]["total_quantity"] += 1  # O1's items sum to 5, not 6
    marts.write_text(yaml.safe_dump(spec, sort_keys=False))
    project = DbtProject(project_dir=copy, profiles_dir=copy)
    ensure_manifest(project)

    results = statuses(dbt_command(staged, UNIT_TESTS, project))

    broken_id = f"unit_test.data_platform.fact_orders.{broken['name']}"
    assert results.pop(broken_id) == "fail"
    assert len(results) >= 5 and set(results.values()) == {"pass"}
