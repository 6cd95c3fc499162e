"""The enforced contract on fact_orders: every column typed, and a mismatch fails the build."""

import json
from pathlib import Path

from data_platform.dbt.project import DBT_PROJECT_DIR
from data_platform_tests.conftest import query
from data_platform_tests.dbt.conftest import dbt_command, marts_yaml, project_copy, statuses
from data_platform_tests.dbt.test_fact_orders import FACT_COLUMNS

FACT = "model.data_platform.fact_orders"
RANGE = ["--vars", '{"min_date": "2024-03-01", "max_date": "2024-03-02"}']


def test_the_contract_is_enforced_and_types_every_column(dbt_manifest: Path) -> None:
    node = json.loads(dbt_manifest.read_text())["nodes"][FACT]
    assert node["config"]["contract"]["enforced"] is True
    assert list(node["columns"]) == FACT_COLUMNS
    assert all(column["data_type"] for column in node["columns"].values())


def test_the_built_table_has_the_contract_types(staged: Path) -> None:
    for args in (["run", "--select", "fact_orders"], ["run", "--select", "fact_orders", *RANGE]):
        assert statuses(dbt_command(staged, args)) == {FACT: "success"}
    columns = marts_yaml(DBT_PROJECT_DIR)["models"][0]["columns"]
    declared = [(c["name"], c["data_type"].replace(" ", "").upper()) for c in columns]
    built = query(
        staged,
        "SELECT column_name, replace(data_type, ' ', '') FROM information_schema.columns "
        "WHERE table_name = 'fact_orders' ORDER BY ordinal_position",
    )
    assert built == declared


def test_a_column_whose_type_breaks_the_contract_fails_the_build(
    staged: Path, tmp_path: Path
) -> None:
    spec = marts_yaml(DBT_PROJECT_DIR)
    columns = spec["models"][0]["columns"]
    next(c for c in columns if c["name"] == "total_quantity")["data_type"] = "bigint"
    project = project_copy(tmp_path, spec)

    for args in (["run", "--select", "fact_orders"], ["run", "--select", "fact_orders", *RANGE]):
        results = dbt_command(staged, args, project)
        assert statuses(results) == {FACT: "error"}
        assert "enforced contract" in results[0]["message"]
