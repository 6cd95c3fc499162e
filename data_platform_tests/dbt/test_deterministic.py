"""A rebuilt day is the same rows, value for value, except the columns marked load times."""

import json
from datetime import date
from pathlib import Path
from types import ModuleType

import dagster as dg
import duckdb

from data_platform.resources import WarehouseResource
from data_platform_tests.conftest import query
from data_platform_tests.dbt.conftest import build_days, make_resources
from data_platform_tests.dbt.crafted import LOADED_AT, insert_orders

DAY = "2024-03-05"


def load_time_columns(manifest: Path, model: str = "fact_orders") -> list[str]:
    """The columns the model YAML marks `meta: {load_time: true}`."""
    node = json.loads(manifest.read_text())["nodes"][f"model.data_platform.{model}"]
    return [name for name, c in node["columns"].items() if c.get("meta", {}).get("load_time")]


def fact_rows(path: Path, excluded: list[str]) -> list[tuple]:
    """Every fact_orders row without the load-time columns, in a fixed order."""
    exclude = ", ".join(f'"{c}"' for c in excluded)
    return query(path, f"SELECT * EXCLUDE ({exclude}) FROM marts.fact_orders ORDER BY order_id")


def test_a_day_ingested_and_built_twice_has_the_same_rows_but_load_times(
    dbt_assets_module: ModuleType, resources: dict, warehouse_path: Path, dbt_manifest: Path
) -> None:
    excluded = load_time_columns(dbt_manifest)
    assert excluded == ["dbt_loaded_at"]
    loads = "SELECT MAX(etl_loaded_at), MAX(dbt_loaded_at) FROM marts.fact_orders f "
    loads += "JOIN staging.stg_orders USING (order_id)"
    runs = []
    with dg.instance_for_test() as instance:
        for _ in range(2):
            assert all(
                r.success for r in build_days(dbt_assets_module, resources, (DAY,), instance)
            )
            runs.append((fact_rows(warehouse_path, excluded), query(warehouse_path, loads)[0]))

    (first, first_loads), (second, second_loads) = runs
    assert len(first) == 300 and second == first
    # Raw and mart were really rewritten: only their load times moved.
    assert second_loads[0] > first_loads[0] and second_loads[1] > first_loads[1]


def reverse_storage_order(path: Path) -> None:
    """Rewrite the raw tables with their rows in the opposite physical order."""
    with duckdb.connect(str(path)) as conn:
        for table in ("raw.orders", "raw.customers"):
            conn.execute(f"CREATE TEMP TABLE reversed AS SELECT * FROM {table} ORDER BY rowid DESC")
            conn.execute(f"DELETE FROM {table}")
            conn.execute(f"INSERT INTO {table} SELECT * FROM reversed")
            conn.execute("DROP TABLE reversed")


def test_exact_ties_in_the_source_resolve_the_same_whatever_the_storage_order(
    dbt_assets_module: ModuleType, warehouse_path: Path, dbt_manifest: Path
) -> None:
    """Rows that tie on update and load time: the models break the tie by value."""
    day = date.fromisoformat(DAY)
    at = "2024-03-05 08:00:00"
    insert_orders(warehouse_path, day, [
        {"order_id": f"T{n}", "status": status, "total_amount": amount, "updated_at": at}
        for n in range(4)
        for status, amount in ([("pending", "10.00"), ("shipped", "20.00")][:: 1 - 2 * (n % 2)])
    ])  # fmt: skip
    with duckdb.connect(str(warehouse_path)) as conn:  # a second name for the same customer
        conn.execute(
            "INSERT INTO raw.customers VALUES ('CUST-00001', 'Ava Novak-Ray', 'Corporate', "
            "DATE '2020-01-01', ?, 'crafted', ?)",
            [day, LOADED_AT],
        )
    resources = make_resources(WarehouseResource(path=str(warehouse_path)))
    excluded = load_time_columns(dbt_manifest)
    builds = []
    for _ in range(2):
        result = dg.materialize(
            [dbt_assets_module.dbt_models],
            resources=resources,
            partition_key=DAY,
        )
        assert result.success
        builds.append(fact_rows(warehouse_path, excluded))
        reverse_storage_order(warehouse_path)

    assert builds[1] == builds[0]
    picked = {r[0]: (r[2], r[6], r[8]) for r in builds[0]}  # customer_name, total_amount, status
    assert len(picked) == 4 and len(set(picked.values())) == 1
