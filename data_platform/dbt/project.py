"""The dbt project and its manifest.

The manifest is prepared ahead of time (`make manifest`, part of `make setup`), so importing the
definitions never runs `dbt parse`; only `dagster dev` re-parses a stale one on load.
"""

import os
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The `dbt` installed next to this interpreter, so an un-activated venv works too."""
    sibling = Path(sys.executable).parent / "dbt"
    return str(sibling) if sibling.exists() else "dbt"


def dbt_resource(project: DbtProject = dbt_project) -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=dbt_executable())


def manifest_is_stale(project: DbtProject = dbt_project) -> bool:
    """True when the manifest is missing or older than any file of the dbt project."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [project.project_dir / "dbt_project.yml", project.project_dir / "profiles.yml"]
    for folder in ("models", "snapshots", "tests", "macros"):
        sources += [p for p in (project.project_dir / folder).rglob("*") if p.is_file()]
    return any(path.stat().st_mtime > built for path in sources)


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Run `dbt parse` only when the manifest is missing or stale; returns its path."""
    if manifest_is_stale(project):
        dbt_resource(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project.manifest_path


def prepare_if_dev(project: DbtProject = dbt_project) -> None:
    """Like `DbtProject.prepare_if_dev`, but with this venv's dbt (no activated venv needed for
    `dagster dev`) and only when the manifest is stale."""
    if os.environ.get("DAGSTER_IS_DEV_CLI"):
        ensure_manifest(project)


prepare_if_dev()
