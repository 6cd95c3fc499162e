"""fact_orders built through Dagster with real dbt on a temp DuckDB file."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import ModuleType

import dagster as dg
import pytest

from data_platform.ingestion.demo_source import (
    AMOUNT_FORMATS,
    CURRENCY_VARIANTS,
    STATUS_VARIANTS,
    UNPARSEABLE_AMOUNTS,
)
from data_platform.resources import WarehouseResource
from data_platform_tests.conftest import query
from data_platform_tests.dbt.conftest import (
    ORDERS_PER_DAY,
    THREE_DAYS,
    execute,
    make_resources,
)
from data_platform_tests.dbt.crafted import insert_orders

FACT_COLUMNS = [
    "order_id", "customer_id", "customer_name", "customer_segment", "order_date", "order_month",
    "total_amount", "currency", "status", "item_count", "total_quantity", "order_value_tier",
    "dbt_loaded_at",
]  # fmt: skip


def build_mart(assets: ModuleType, resources: dict, day: str) -> dg.ExecuteInProcessResult:
    """Staging views and one day of fact_orders over whatever raw rows are there."""
    return dg.materialize(
        [assets.dbt_models],
        resources=resources,
        partition_key=day,
        raise_on_error=False,
    )


def per_day(path: Path) -> dict[date, tuple[int, object]]:
    rows = query(path, "SELECT order_date, COUNT(*), MAX(dbt_loaded_at) FROM marts.fact_orders "
                       "GROUP BY 1")  # fmt: skip
    return {d: (n, loaded) for d, n, loaded in rows}


def test_three_days_have_one_row_per_distinct_cleaned_order(three_days: Path) -> None:
    columns = [r[0] for r in query(three_days, "DESCRIBE marts.fact_orders")]
    assert columns == FACT_COLUMNS
    expected = query(three_days, "SELECT DISTINCT order_id FROM raw.orders ORDER BY 1")
    assert query(three_days, "SELECT order_id FROM marts.fact_orders ORDER BY 1") == expected
    raw_rows = query(three_days, "SELECT COUNT(*) FROM raw.orders")[0][0]
    assert raw_rows > len(expected), "the demo source should have emitted duplicate rows"
    counts = {d.isoformat(): n for d, (n, _) in per_day(three_days).items()}
    assert counts == dict.fromkeys(THREE_DAYS, ORDERS_PER_DAY)
    # On the demo source's own rows: every status maps, only the unparseable amounts are NULL.
    unmapped = query(
        three_days,
        "SELECT COUNT(*) FILTER (WHERE standardized_status IS NULL), COUNT(*) FILTER (WHERE "
        "cleaned_total_amount IS NULL AND coalesce(raw_total_amount, '') NOT IN (?, ?, ?)) "
        "FROM staging.stg_orders",
        list(UNPARSEABLE_AMOUNTS),
    )
    assert unmapped == [(0, 0)]
    # LEFT JOINs keep orders with null or unknown customers.
    assert (
        query(three_days, "SELECT COUNT(*) FROM marts.fact_orders WHERE customer_name IS NULL")[0][
            0
        ]
        > 0
    )


def test_materializations_carry_row_counts_and_are_recorded_while_dbt_runs(
    dbt_assets_module: ModuleType, resources: dict, three_days: Path
) -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [dbt_assets_module.dbt_models], resources=resources, partition_key=THREE_DAYS[1],
            instance=instance, raise_on_error=False,
        )  # fmt: skip
        logs = instance.all_logs(result.run_id)
    assert result.success
    by_key = {
        m.materialization.asset_key.to_user_string(): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    assert by_key["fact_orders"]["dagster/row_count"].value == 3 * ORDERS_PER_DAY
    assert by_key["fact_orders"]["partition_range_row_count"].value == ORDERS_PER_DAY
    assert by_key["stg_orders"]["dagster/row_count"].value == 3 * ORDERS_PER_DAY
    assert all("dagster/row_count" in metadata for metadata in by_key.values())
    # Counted by dbt (macros/row_counts.sql), so each model's events are stored as dbt reports
    # it: all materializations are in the event log before dagster-dbt logs that dbt finished.
    finished = next(i for i, e in enumerate(logs) if e.user_message.startswith("Finished dbt"))
    materialization = dg.DagsterEventType.ASSET_MATERIALIZATION
    materialized = [
        i for i, e in enumerate(logs)
        if e.dagster_event and e.dagster_event.event_type == materialization
    ]  # fmt: skip
    assert len(materialized) == len(by_key) and max(materialized) < finished
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    relationship = checks["relationships_fact_orders_customer_id__customer_id__ref_stg_customers_"]
    assert relationship.severity == dg.AssetCheckSeverity.WARN
    assert not relationship.passed  # the demo source sends unknown customers
    assert relationship.metadata["dagster_dbt/failed_row_count"].value > 0


def test_the_next_run_on_a_warehouse_parses_only_what_changed(
    dbt_assets_module: ModuleType, resources: dict, three_days: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The prepared parse was made for another warehouse path, so dbt's first run here parses
    the project in full ("profile has changed"); the step keeps that run's parse for the next
    one on this warehouse, which then re-parses nothing for a new day (dagster-dbt echoes dbt's
    log to stdout)."""
    capsys.readouterr()
    assert build_mart(dbt_assets_module, resources, THREE_DAYS[0]).success
    assert "Unable to do partial parsing because profile has changed" in capsys.readouterr().out
    assert build_mart(dbt_assets_module, resources, THREE_DAYS[1]).success
    assert "Unable to do partial parsing" not in capsys.readouterr().out


def test_rerunning_one_day_replaces_that_day_only(
    dbt_assets_module: ModuleType, resources: dict, three_days: Path
) -> None:
    before = per_day(three_days)
    day = date.fromisoformat(THREE_DAYS[1])
    # The source now returns fewer orders for that day: the re-run must drop the vanished ones.
    execute(three_days, "DELETE FROM raw.orders WHERE partition_date = ? AND order_id LIKE '%0'",
            [day])  # fmt: skip
    remaining = query(three_days, "SELECT COUNT(DISTINCT order_id) FROM raw.orders "
                                  "WHERE partition_date = ?", [day])[0][0]  # fmt: skip
    result = dg.materialize(
        [dbt_assets_module.dbt_models],
        selection=["fact_orders"],
        resources=resources,
        partition_key=THREE_DAYS[1],
    )
    assert result.success
    after = per_day(three_days)
    assert after[day][0] == remaining < before[day][0]
    assert after[day][1] > before[day][1]  # rebuilt
    for other in (date.fromisoformat(THREE_DAYS[0]), date.fromisoformat(THREE_DAYS[2])):
        assert after[other] == before[other]  # same count, not even rewritten
    # Running the same day again changes nothing but the load time.
    dg.materialize(
        [dbt_assets_module.dbt_models],
        selection=["fact_orders"],
        resources=resources,
        partition_key=THREE_DAYS[1],
    )
    assert per_day(three_days)[day][0] == remaining


TIER_DAY, VARIANT_DAY, DUPLICATE_DAY = date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)
TIER_CASES = [
    ("99.99", "Low Value"),
    ("100", "Medium Value"),
    ("$100.00", "Medium Value"),
    ("999.99", "Medium Value"),
    ("1000", "High Value"),
    ("USD 1,000.00", "High Value"),
    ("0.00", "Low Value"),
    ("N/A", None),
]


def variant_orders() -> tuple[list[dict], dict[str, tuple[str, object]]]:
    """One order per status, amount and currency rendering the demo source uses."""
    orders: list[dict] = []
    expected: dict[str, tuple[str, object]] = {}
    for canonical, variants in STATUS_VARIANTS.items():
        for n, variant in enumerate(variants):
            orders.append({"order_id": f"S-{canonical}-{n}", "status": variant})
            expected[f"S-{canonical}-{n}"] = ("status", canonical)
    for amount in (1234.56, 7.5, 100.0):
        for n, template in enumerate(AMOUNT_FORMATS):
            text = template.format(n=f"{amount:.2f}", c=f"{amount:,.2f}")
            orders.append({"order_id": f"A-{amount}-{n}", "total_amount": text})
            expected[f"A-{amount}-{n}"] = ("amount", amount)
        # Numeric amounts reach raw.orders as Python's str() of the number.
        orders.append({"order_id": f"A-{amount}-num", "total_amount": str(amount)})
        expected[f"A-{amount}-num"] = ("amount", amount)
    for n, text in enumerate(UNPARSEABLE_AMOUNTS):
        orders.append({"order_id": f"U-{n}", "total_amount": text})
        expected[f"U-{n}"] = ("amount", None)
    for n, currency in enumerate(CURRENCY_VARIANTS):
        orders.append({"order_id": f"C-{n}", "currency": currency})
        expected[f"C-{n}"] = ("currency", currency.strip().upper())
    return orders, expected


@dataclass
class Crafted:
    path: Path
    result: dg.ExecuteInProcessResult
    expected_variants: dict[str, tuple[str, object]]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory, dbt_assets_module: ModuleType) -> Crafted:
    """Crafted raw rows for three days, built by ONE staging + fact_orders range run."""
    path = tmp_path_factory.mktemp("crafted") / "warehouse.duckdb"
    tiers = [{"order_id": f"T{n}", "total_amount": a} for n, (a, _) in enumerate(TIER_CASES)]
    insert_orders(path, TIER_DAY, tiers)
    variants, expected = variant_orders()
    insert_orders(path, VARIANT_DAY, variants)
    early, late = "2024-05-03 08:00:00", "2024-05-03 09:00:00"
    insert_orders(
        path,
        DUPLICATE_DAY,
        [
            {"order_id": "D1", "status": "pending", "updated_at": early},
            {"order_id": "D1", "status": "shipped", "updated_at": late},
            {"order_id": "D2", "status": "pending", "updated_at": early,
             "etl_loaded_at": "2024-05-04 00:00:00"},
            {"order_id": "D2", "status": "cancelled", "updated_at": early,
             "etl_loaded_at": "2024-05-05 00:00:00"},
        ],
    )  # fmt: skip
    result = dg.materialize(
        [dbt_assets_module.dbt_models],
        resources=make_resources(WarehouseResource(path=str(path))),
        tags={
            "dagster/asset_partition_range_start": TIER_DAY.isoformat(),
            "dagster/asset_partition_range_end": DUPLICATE_DAY.isoformat(),
        },
    )
    return Crafted(path, result, expected)


def test_a_range_run_builds_every_day_of_the_range_at_once(crafted: Crafted) -> None:
    assert crafted.result.success
    days = query(crafted.path, "SELECT DISTINCT order_date FROM marts.fact_orders ORDER BY 1")
    assert days == [(TIER_DAY,), (VARIANT_DAY,), (DUPLICATE_DAY,)]
    fact_partitions = sorted(
        m.materialization.partition
        for m in crafted.result.get_asset_materialization_events()
        if m.materialization.asset_key == dg.AssetKey("fact_orders")
    )
    assert fact_partitions == [TIER_DAY.isoformat(), VARIANT_DAY.isoformat(),
                               DUPLICATE_DAY.isoformat()]  # fmt: skip
    # ... from one step, i.e. one dbt invocation for the whole range.
    steps = [e.step_key for e in crafted.result.get_step_success_events()]
    assert steps.count("dbt_models") == 1


def test_value_tier_boundaries(crafted: Crafted) -> None:
    rows = dict(query(crafted.path, "SELECT order_id, order_value_tier FROM marts.fact_orders "
                                    "WHERE order_date = ?", [TIER_DAY]))  # fmt: skip
    assert rows == {f"T{n}": tier for n, (_, tier) in enumerate(TIER_CASES)}


def test_every_dirty_variant_the_demo_source_emits_is_mapped(crafted: Crafted) -> None:
    rows = query(
        crafted.path,
        "SELECT order_id, status, total_amount, currency FROM marts.fact_orders "
        "WHERE order_date = ?",
        [VARIANT_DAY],
    )
    got = {oid: {"status": s, "amount": a, "currency": c} for oid, s, a, c in rows}
    assert set(got) == set(crafted.expected_variants)
    for order_id, (field, value) in crafted.expected_variants.items():
        actual = got[order_id][field]
        if field == "amount" and value is not None:
            assert actual is not None and float(actual) == value, (order_id, actual)
        else:
            assert actual == value, (order_id, actual)
    # Unparseable amounts are NULL, and counted by a WARN check on stg_orders.
    checks = {e.check_name: e for e in crafted.result.get_asset_check_evaluations()}
    unparseable = checks["stg_orders_unparseable_amounts"]
    assert not unparseable.passed and unparseable.severity == dg.AssetCheckSeverity.WARN
    # The tier case "N/A" is unparseable too.
    assert (
        unparseable.metadata["dagster_dbt/failed_row_count"].value == len(UNPARSEABLE_AMOUNTS) + 1
    )


def test_duplicates_keep_the_latest_update_then_the_latest_load(crafted: Crafted) -> None:
    rows = query(crafted.path, "SELECT order_id, status FROM marts.fact_orders "
                               "WHERE order_date = ? ORDER BY 1", [DUPLICATE_DAY])  # fmt: skip
    assert rows == [("D1", "shipped"), ("D2", "cancelled")]
