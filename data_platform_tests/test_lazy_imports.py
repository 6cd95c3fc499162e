"""Loading the code location imports no heavy data library: every run worker, `dagster asset
materialize` and the code server load the definitions, while only the steps that need pandas,
pyarrow, pyspark, a Kafka client or dagster-dbt (and dbt-core) import them. The dbt definitions
come from the spec cache `make setup` prepares (data_platform/dbt/spec_cache.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from data_platform.dbt import spec_cache
from data_platform.dbt.project import DBT_PROJECT_DIR, MANIFEST_PATH, dbt_executable

HEAVY = ("pyspark", "pandas", "numpy", "pyarrow", "confluent_kafka", "kafka", "dagster_dbt", "dbt")

PROBE = f"""
import json, sys
import data_platform.definitions
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def heavy_modules_on_load() -> list[str]:
    """The heavy modules a fresh interpreter holds after importing the definitions."""
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_definitions_load_without_heavy_modules() -> None:
    spec_cache.prepare()  # what `make setup` did; a no-op when the cache is current
    assert heavy_modules_on_load() == []


def test_dbt_run_by_hand_leaves_the_code_locations_manifest_alone(tmp_path: Path) -> None:
    """A person's `dbt parse` (or build) in dbt_project/ writes dbt's default target/; the
    manifest the definitions load, and so the spec cache keyed on it, stay as prepared."""
    spec_cache.prepare()
    prepared = MANIFEST_PATH.read_bytes()
    by_hands_manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    by_hands_manifest.unlink(missing_ok=True)
    by_hand = subprocess.run(
        [dbt_executable(), "parse", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR, env={k: v for k, v in os.environ.items() if not k.startswith("DBT_")},
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert by_hand.returncode == 0, by_hand.stdout[-3000:]
    assert by_hands_manifest.is_file()  # dbt wrote where it writes by default
    assert MANIFEST_PATH.read_bytes() == prepared
    assert heavy_modules_on_load() == []  # the cached specs still match: no dagster-dbt
