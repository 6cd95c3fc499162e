"""deploy/Dockerfile without a Docker engine: its build context exists, and its manifest step
(the same command) really prepares the dbt manifest and the dbt spec cache in a staged copy of
that context, after which the definitions load without dagster-dbt."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from data_platform_tests.conftest import REPO_ROOT
from data_platform_tests.deploy.conftest import DEPLOY, load_yaml

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, re.M)]


def copy_sources() -> list[str]:
    return [src for line in instructions("COPY") for src in line.split()[:-1]]


def test_build_context_and_entrypoint() -> None:
    for source in copy_sources():
        assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repo"
    [cmd] = instructions("CMD")
    assert "data_platform.definitions" in cmd and "3030" in cmd
    [deployment] = load_yaml(DEPLOY / "helm" / "values.yaml")["dagster-user-deployments"][
        "deployments"
    ]
    assert str(deployment["port"]) in cmd
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in " ".join(instructions("ENV"))
    assert not re.search(r"(?i)(password|token)\s*=", DOCKERFILE), "no secrets in the image"


def test_manifest_step_prepares_the_manifest(tmp_path: Path) -> None:
    [manifest_step] = [r for r in instructions("RUN") if "data_platform.dbt.spec_cache" in r]
    command = shlex.split(manifest_step.split("&&")[0])
    assert command == ["python", "-m", "data_platform.dbt.spec_cache"]

    app = tmp_path / "app"  # the image's WORKDIR, filled like the COPY lines fill it
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__")
    for source in copy_sources():
        src = REPO_ROOT / source
        if src.is_dir():
            shutil.copytree(src, app / source, ignore=ignore)
        else:
            app.mkdir(exist_ok=True)
            shutil.copy2(src, app / source)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": str(app), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("DAGSTER_IS_DEV_CLI", None)
    subprocess.run([sys.executable, *command[1:]], cwd=app, env=env, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    assert (app / "dbt_project" / "target" / "dagster" / "manifest.json").is_file()
    cached = {p.name for p in (app / "dbt_project" / "target" / "dagster" / "specs").iterdir()}
    assert cached == {"dbt_models.json", "dbt_snapshots.json"}
    probe = (
        "import sys, data_platform.definitions as d; "
        "print(d.__file__, 'dagster_dbt' in sys.modules)"
    )
    check = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe],
        cwd=app, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    where, dbt_loaded = check.stdout.strip().splitlines()[-1].split()
    assert where.startswith(str(app)), "the staged copy, not the repo, was used"
    assert dbt_loaded == "False", "the staged image's definitions imported dagster-dbt"


def test_installs_from_the_hashed_lock() -> None:
    """The image installs exactly requirements.lock (the file `make setup` uses), which pins
    every requirement with hashes and names no index host."""
    runs = instructions("RUN")
    assert "pip install --require-hashes -r requirements.lock" in runs
    assert any(r.startswith("pip install --no-deps -e .") for r in runs)
    lock = (REPO_ROOT / "requirements.lock").read_text()
    assert not re.search(r"(?m)^\s*--(extra-)?index-url|^\s*--find-links|://", lock)
    pins = re.findall(r"(?m)^[A-Za-z0-9][^\s]*==\S+ \\$", lock)
    assert pins and len(pins) == len(re.findall(r"(?m)^[A-Za-z0-9]", lock))


def test_lake_extensions_are_installed_from_the_wheels_as_the_run_user() -> None:
    """DuckLake's extensions land in the run user's ~/.duckdb at build time (nothing downloads
    at run time), and the image bakes no warehouse file or volume in."""
    text = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    runs = instructions("RUN")
    assert "python -m data_platform.warehouse.extensions" in runs
    assert text.index("USER 10001") < text.index("python -m data_platform.warehouse.extensions")
    assert "warehouse.duckdb" not in text and "/warehouse" not in text
