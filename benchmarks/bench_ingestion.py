"""Raw ingestion: this project's load path vs `DataFrame.to_sql(if_exists='append')`, and a
365-day single-run backfill through `dagster asset materialize`.

Both loaders get the same 200k generated orders in one run, side by side.
"""

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import duckdb
import sqlalchemy

from data_platform import warehouse
from data_platform.cli.demo import materialize_command
from data_platform.ingestion import demo_source
from data_platform.ingestion.frames import records_to_frame

DAY = date(2024, 6, 1)
ROWS = 200_000
REPO_ROOT = Path(__file__).resolve().parents[1]


def _project_load(path: Path, records: list[dict]) -> float:
    spec = warehouse.RAW_TABLES["orders"]
    started = time.perf_counter()
    frame = records_to_frame(spec, records)
    with warehouse.connect(path) as conn:
        warehouse.ensure_raw_schema(conn)
        warehouse.replace_partition(conn, spec, frame, str(uuid.uuid4()), "raw_orders", DAY)
    return time.perf_counter() - started


def _to_sql_load(path: Path, records: list[dict]) -> float:
    frame = records_to_frame(warehouse.RAW_TABLES["orders"], records)  # built outside the timer
    engine = sqlalchemy.create_engine(f"duckdb:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS raw")
    started = time.perf_counter()
    frame.to_sql("orders", engine, schema="raw", if_exists="append", index=False)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def _year_backfill(tmp: Path) -> tuple[float, int]:
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    wh = tmp / "year.duckdb"
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATA_PLATFORM_WAREHOUSE": str(wh)}
    env.pop("ORDERS_API_URL", None)
    command = materialize_command("raw_orders", "--partition-range", "2024-01-01...2024-12-30")
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    with duckdb.connect(str(wh), read_only=True) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM raw.orders").fetchone()[0]
    return elapsed, rows


def run() -> None:
    records = demo_source.generate_day(DAY, ROWS).orders
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        ours = _project_load(tmp / "project.duckdb", records)
        theirs = _to_sql_load(tmp / "to_sql.duckdb", records)
        n = len(records)
        print(f"one day, {n} order rows (200k orders + the source's duplicates):")
        print(
            f"  project load path (frame + delete/insert in one txn): {n / ours:>12,.0f} rows/s"
            f"  ({ours:.2f}s)"
        )
        print(
            f"  DataFrame.to_sql(if_exists='append') via duckdb-engine: {n / theirs:>10,.0f} rows/s"
            f"  ({theirs:.2f}s)"
        )
        print(f"  ratio: {theirs / ours:.1f}x (target >= 30x)")
        seconds, rows = _year_backfill(tmp)
        print(
            f"365-day --partition-range backfill of raw_orders (default volume): "
            f"{seconds:.1f}s wall, {rows:,} rows, one run (target < 60s)"
        )
