"""Loading the code location imports no heavy data library: every run worker, `dagster asset
materialize` and the code server load the definitions, while only the steps that need pandas,
pyarrow, pyspark or a Kafka client import them."""

import json
import subprocess
import sys

# dagster-dbt stays: @dbt_assets needs it (and dbt-core's internals) at load time.
HEAVY = ("pyspark", "pandas", "numpy", "pyarrow", "confluent_kafka", "kafka")

PROBE = f"""
import json, sys
import data_platform.definitions
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_definitions_load_without_heavy_modules() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
