"""dbt unit tests (`unit_tests:` in the model YAML) run with real dbt on a real DuckDB file."""

from pathlib import Path

import yaml

from data_platform.dbt.project import DBT_PROJECT_DIR
from data_platform_tests.dbt.conftest import dbt_command, marts_yaml, project_copy, statuses

UNIT_TESTS = ["test", "--select", "test_type:unit"]


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
    spec = marts_yaml(DBT_PROJECT_DIR)
    broken = spec["unit_tests"][0]
    broken["expect"]["rows"][0]["total_quantity"] += 1  # O1's items sum to 5, not 6
    project = project_copy(tmp_path, spec)

    results = statuses(dbt_command(staged, UNIT_TESTS, project))

    broken_id = f"unit_test.data_platform.fact_orders.{broken['name']}"
    assert results.pop(broken_id) == "fail"
    assert len(results) >= 5 and set(results.values()) == {"pass"}
