"""Fixtures for the production profile: a fresh PostgreSQL database per test on the real server,
and the deploy/ files loaded as Dagster and Kubernetes would load them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml

from data_platform_tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@pytest.fixture
def deploy_instance_config() -> dict[str, Any]:
    return load_yaml(DEPLOY / "dagster.yaml")


@pytest.fixture
def pg_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database on the local server, named per test; the DAGSTER_PG_* variables that
    deploy/dagster.yaml reads point at it. Dropped afterwards."""
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable on {PG['host']}:{PG['port']} ({exc}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
        )
    admin.autocommit = True
    name = f"dp_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')  # identifier generated above, not input
    monkeypatch.setenv("DAGSTER_PG_HOST", PG["host"])
    monkeypatch.setenv("DAGSTER_PG_PORT", str(PG["port"]))
    monkeypatch.setenv("DAGSTER_PG_USER", PG["user"])
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")  # trust auth locally; a Secret in production
    monkeypatch.setenv("DAGSTER_PG_DB", name)
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig for a cluster that is never contacted: the launcher loads it at start-up, but
    building a Job is pure; nothing is applied."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "offline",
        "clusters": [{"name": "offline", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "offline", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
    }))  # fmt: skip
    return path


def offline_launcher_config(config: dict[str, Any], kubeconfig: Path) -> dict[str, Any]:
    """deploy/dagster.yaml's launcher section, told to read a kubeconfig file instead of the
    in-cluster service account (the only two keys changed)."""
    launcher = {**config["run_launcher"], "config": dict(config["run_launcher"]["config"])}
    launcher["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    return launcher
