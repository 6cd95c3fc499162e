"""`make dev` serves the UI on $DAGSTER_PORT (default 3000), as the README says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from data_platform_tests.conftest import REPO_ROOT


def dev_command(**env: str) -> str:
    """The commands `make dev` would run (`make -n`: nothing is executed)."""
    clean = {k: v for k, v in os.environ.items() if k != "DAGSTER_PORT"}
    result = subprocess.run(["make", "-n", "dev"], cwd=REPO_ROOT, env={**clean, **env},
                            capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_dev_port_comes_from_dagster_port() -> None:
    assert re.search(r"dg dev -h 127\.0\.0\.1 -p 3000\b", dev_command())
    assert re.search(r"dg dev -h 127\.0\.0\.1 -p 3123\b", dev_command(DAGSTER_PORT="3123"))
    readme = (REPO_ROOT / "README.md").read_text()
    assert "DAGSTER_PORT=3001 make dev" in readme
