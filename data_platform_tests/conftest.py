"""Shared real fixtures: temp warehouses (a DuckDB file, or a DuckLake on the machine's
PostgreSQL), Dagster instances, a Kafka-protocol broker.

Expensive services (the broker, the lake catalog server; Spark in streaming tests) are
session-scoped. A test module marked `both_backends` runs each test on the file and on a lake.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from data_platform import warehouse as warehouse_lib
from data_platform.kafka.local_broker import LocalBroker
from data_platform.resources import OrdersApiResource, WarehouseResource
from data_platform_tests.lake import LakeCatalogs

REPO_ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("file", "lake")


def query(
    path: Path | warehouse_lib.Warehouse, sql: str, params: list | None = None
) -> list[tuple]:
    """Read the warehouse directly (read-only), as an analyst would: the file, or the lake."""
    if isinstance(path, Path):
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()
    with warehouse_lib.connect(path, read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `both_backends` run once on a DuckDB file and once on a DuckLake."""
    if "warehouse_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("warehouse_backend", BACKENDS, indirect=True)


@pytest.fixture
def warehouse_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "file")


@pytest.fixture(scope="session")
def lake_catalogs() -> Iterator[LakeCatalogs]:
    """Fresh DuckLake catalog databases (`lake_*`) on the machine's PostgreSQL, dropped at the
    end of the session."""
    with LakeCatalogs() as catalogs:
        yield catalogs


@pytest.fixture
def warehouse_target(
    warehouse_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> warehouse_lib.Warehouse:
    """This test's empty warehouse: a file under the test's state dir, or a new lake."""
    if warehouse_backend == "file":
        return warehouse_lib.FileWarehouse(tmp_path / "state" / "warehouse.duckdb")
    catalogs: LakeCatalogs = request.getfixturevalue("lake_catalogs")
    return catalogs.new_lake(tmp_path / "lake_data")


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse_target: warehouse_lib.Warehouse
) -> None:
    """No test touches the developer's .data/ or .dagster_home/; no stray API URL or faults;
    the warehouse environment names this test's own warehouse (child processes follow it)."""
    monkeypatch.setenv("DATA_PLATFORM_STATE_DIR", str(tmp_path / "state"))
    for name in warehouse_lib.target.ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in warehouse_lib.warehouse_env(warehouse_target).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ORDERS_API_URL", raising=False)
    monkeypatch.delenv("DATA_PLATFORM_FAULTS", raising=False)


@pytest.fixture
def warehouse_path(warehouse_target: warehouse_lib.Warehouse) -> Path | warehouse_lib.Warehouse:
    """The file's path (what file-only tests open directly), or the lake itself."""
    if isinstance(warehouse_target, warehouse_lib.FileWarehouse):
        return warehouse_target.path
    return warehouse_target


@pytest.fixture
def warehouse(warehouse_target: warehouse_lib.Warehouse) -> WarehouseResource:
    if isinstance(warehouse_target, warehouse_lib.FileWarehouse):
        return WarehouseResource(path=str(warehouse_target.path), lock_timeout_seconds=60)
    return WarehouseResource(path=warehouse_target.uri, lake_data_path=warehouse_target.data_path)


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
