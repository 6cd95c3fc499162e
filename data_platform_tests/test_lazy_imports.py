"""Loading the code location imports no heavy data library: every run worker, `dagster asset
materialize` and the code server load the definitions, while only the steps that need pandas,
pyarrow, pyspark, a Kafka client or dagster-dbt (and dbt-core) import them. The dbt definitions
come from the spec cache `make setup` prepares (data_platform/dbt/spec_cache.py)."""

import json
import subprocess
import sys

from data_platform.dbt import spec_cache

HEAVY = ("pyspark", "pandas", "numpy", "pyarrow", "confluent_kafka", "kafka", "dagster_dbt", "dbt")

PROBE = f"""
import json, sys
import data_platform.definitions
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_definitions_load_without_heavy_modules() -> None:
    spec_cache.prepare()  # what `make setup` did; a no-op when the cache is current
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
