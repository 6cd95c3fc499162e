"""The DuckLake warehouse beside the DuckDB file, same machine, same run:

1. four day loads of raw_orders (`dagster asset materialize`, one process each): serialized on
   the file (its pool has one slot) vs all four at once on the lake (PostgreSQL instance
   storage, the production profile's pool limit): wall time and ratio;
2. the per-day load path (frame + delete/insert + audit in one transaction) on 200k order rows:
   rows/s on the lake (catalog on the local PostgreSQL, data in a local folder) vs the file;
   goal: lake >= 50% of the file;
3. the Kafka micro-batch end to end (sensor tick + in-process run) on the lake vs the file.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import yaml

from data_platform import warehouse
from data_platform.cli.demo import materialize_command
from data_platform.ingestion import demo_source
from data_platform.ingestion.frames import records_to_frame
from data_platform.kafka import producer as kafka_producer
from data_platform.kafka.local_broker import LocalBroker
from data_platform.orders import event_producer
from data_platform.resources import WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform_tests.lake import PG, LakeCatalogs

REPO_ROOT = Path(__file__).resolve().parents[1]
DAYS = ("2024-06-01", "2024-06-02", "2024-06-03", "2024-06-04")
ROWS = 200_000
ROUNDS = int(os.environ.get("BENCH_LAKE_ROUNDS", "3"))
EVENTS = int(os.environ.get("BENCH_LAKE_EVENTS", "100000"))


def _load_day(target: warehouse.Warehouse, frame, day: date) -> float:
    spec = warehouse.RAW_TABLES["orders"]
    with warehouse.connect(target) as conn:
        warehouse.ensure_raw_schema(conn)
        started = time.perf_counter()
        warehouse.replace_partition(conn, spec, frame, str(uuid.uuid4()), "raw_orders", day)
        return time.perf_counter() - started


def per_day_rates(tmp: Path, catalogs: LakeCatalogs) -> tuple[float, float]:
    records = demo_source.generate_day(date(2024, 6, 1), ROWS).orders
    frame = records_to_frame(warehouse.RAW_TABLES["orders"], records)
    file_s, lake_s = [], []
    for i in range(ROUNDS):  # interleaved: a slow spell of the machine hits both
        file_s.append(
            _load_day(warehouse.FileWarehouse(tmp / f"day{i}.duckdb"), frame, date(2024, 6, 1))
        )
        lake = catalogs.new_lake(tmp / f"lake{i}")
        lake_s.append(_load_day(lake, frame, date(2024, 6, 1)))
    n = len(frame)
    return n / statistics.median(file_s), n / statistics.median(lake_s)


def _run_all(commands: list[list[str]], env: dict[str, str], at_once: bool) -> float:
    started = time.perf_counter()
    if at_once:
        procs = [
            subprocess.Popen(c, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
            for c in commands
        ]  # fmt: skip
        outputs = [(p.communicate()[0], p.returncode) for p in procs]
    else:
        outputs = []
        for c in commands:
            done = subprocess.run(c, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
            outputs.append((done.stdout + done.stderr, done.returncode))
    elapsed = time.perf_counter() - started
    for output, code in outputs:
        if code != 0:
            raise SystemExit(output[-3000:])
    return elapsed


def four_days(tmp: Path, catalogs: LakeCatalogs) -> tuple[float, float]:
    commands = [materialize_command("raw_orders", "--partition", d) for d in DAYS]
    base = {k: v for k, v in os.environ.items() if not k.startswith("DATA_PLATFORM_")}
    base["PATH"] = f"{Path(sys.executable).parent}:{base['PATH']}"
    # The file: the repo's local instance (SQLite, pool of one slot), one run after another.
    file_home = tmp / "file_home"
    file_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", file_home / "dagster.yaml")
    file_env = {**base, "DAGSTER_HOME": str(file_home),
                "DATA_PLATFORM_WAREHOUSE": str(tmp / "four.duckdb")}  # fmt: skip
    subprocess.run([sys.executable, "-m", "dagster", "instance", "migrate"], env=file_env,
                   check=True, capture_output=True)  # fmt: skip
    file_wall = _run_all(commands, file_env, at_once=False)
    # The lake: production's storage and pool limit, all four at once.
    lake = catalogs.new_lake(tmp / "four_lake")
    deploy = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    config = {k: deploy[k] for k in ("run_storage", "event_log_storage", "schedule_storage")}
    config["concurrency"] = {"pools": deploy["concurrency"]["pools"]}
    lake_home = tmp / "lake_home"
    lake_home.mkdir()
    (lake_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    lake_env = {**base, **warehouse.warehouse_env(lake), "DAGSTER_HOME": str(lake_home),
                "DAGSTER_PG_HOST": PG["host"], "DAGSTER_PG_PORT": str(PG["port"]),
                "DAGSTER_PG_USER": PG["user"], "DAGSTER_PG_PASSWORD": "",
                "DAGSTER_PG_DB": catalogs.new_database()}  # fmt: skip
    limit = str(deploy["concurrency"]["pools"]["default_limit"])
    for command in (
        ["instance", "migrate"],
        ["instance", "concurrency", "set", "warehouse", limit],
    ):
        subprocess.run([sys.executable, "-m", "dagster", *command], env=lake_env, check=True,
                       capture_output=True)  # fmt: skip
    lake_wall = _run_all(commands, lake_env, at_once=True)
    return file_wall, lake_wall


def microbatch_rates(tmp: Path, catalogs: LakeCatalogs) -> tuple[float, float]:
    from benchmarks.bench_kafka import microbatch

    with LocalBroker(log_path=tmp / "broker.log") as broker:
        kafka = KafkaResource(bootstrap_servers=broker.bootstrap_servers, orders_topic="lake")
        kafka.ensure_topics()
        records = event_producer.generate(EVENTS, invalid_rate=0.01, seed=11)
        kafka_producer.produce(kafka.bounded_config(), kafka.orders_topic, records)
        os.environ["BENCH_KAFKA_EVENTS"] = str(EVENTS)
        import benchmarks.bench_kafka as bench_kafka

        bench_kafka.EVENTS = EVENTS
        file_r, lake_r = [], []
        for i in range(ROUNDS):
            file_r.append(microbatch(kafka, WarehouseResource(path=str(tmp / f"mb{i}.duckdb"))))
            lake = catalogs.new_lake(tmp / f"mb_lake{i}")
            resource = WarehouseResource(path=lake.uri, lake_data_path=lake.data_path)
            lake_r.append(microbatch(kafka, resource))
    return statistics.median(file_r), statistics.median(lake_r)


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp_dir, LakeCatalogs() as catalogs:
        tmp = Path(tmp_dir)
        file_rate, lake_rate = per_day_rates(tmp, catalogs)
        print(f"per-day load path, {ROWS:,} orders (+ duplicates), median of {ROUNDS}:")
        print(f"  file {file_rate:>12,.0f} rows/s   lake {lake_rate:>12,.0f} rows/s   "
              f"lake/file = {lake_rate / file_rate:.0%} (goal >= 50%)")  # fmt: skip
        file_wall, lake_wall = four_days(tmp, catalogs)
        print("four day loads of raw_orders (dagster asset materialize, one process each):")
        print(f"  file, serialized {file_wall:6.1f}s   lake, concurrent {lake_wall:6.1f}s   "
              f"file/lake = {file_wall / lake_wall:.2f}x")  # fmt: skip
        file_mb, lake_mb = microbatch_rates(tmp, catalogs)
        print(f"micro-batch end to end, {EVENTS:,} events, median of {ROUNDS}:")
        print(f"  file {file_mb:>10,.0f} records/s   lake {lake_mb:>10,.0f} records/s   "
              f"lake/file = {lake_mb / file_mb:.0%}")  # fmt: skip
