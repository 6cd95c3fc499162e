"""Shared real fixtures: temp DuckDB warehouses, Dagster instances, a Kafka-protocol broker.

Expensive services (the broker; Spark in streaming tests) are session-scoped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from data_platform.kafka.local_broker import LocalBroker
from data_platform.resources import OrdersApiResource, WarehouseResource

REPO_ROOT = Path(__file__).resolve().parents[1]


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Read the warehouse file directly (read-only), as an analyst would."""
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the developer's .data/ or .dagster_home/; no stray API URL or faults."""
    monkeypatch.setenv("DATA_PLATFORM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DATA_PLATFORM_WAREHOUSE", str(tmp_path / "state" / "warehouse.duckdb"))
    monkeypatch.delenv("ORDERS_API_URL", raising=False)
    monkeypatch.delenv("DATA_PLATFORM_FAULTS", raising=False)


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return Path(os.environ["DATA_PLATFORM_WAREHOUSE"])


@pytest.fixture
def warehouse(warehouse_path: Path) -> WarehouseResource:
    return WarehouseResource(path=str(warehouse_path), lock_timeout_seconds=60)


@pytest.fixture
def orders_api() -> OrdersApiResource:
    """The demo source at a small volume, so tests stay fast."""
    return OrdersApiResource(demo_orders_per_day=300, demo_user_count=50)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME holding the repo's own dagster.yaml, for subprocess `dagster` runs."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    # Create the SQLite storage once, up front: processes that race to initialise a brand-new
    # instance can stamp its schema version twice and leave it unusable.
    dg.DagsterInstance.from_config(str(home)).dispose()
    return home


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """One real Kafka-protocol broker (tansu) for the whole session, on a free port."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with LocalBroker(log_path=log) as broker:
        yield broker
