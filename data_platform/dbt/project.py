"""The dbt project, its manifest and the dbt resource.

The manifest (and the cached asset specs built from it, see `spec_cache`) is prepared ahead of
time (`make manifest`, part of `make setup`, and the image build), so loading the definitions
never runs `dbt parse`; only `dagster dev` re-prepares a stale one on load. dagster-dbt is
imported only where dbt is run or the cache is built: importing it costs more than
`import dagster` itself, and every run worker and CLI call loads this module.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dagster_dbt import DbtCliResource, DbtProject
    from packaging.version import Version

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# Dagster's own dbt artifacts (the prepared manifest, dbt's partial parse, the spec cache) live
# apart from what dbt run by hand writes to `target/`: a hand-run `dbt build` rewrites
# `target/manifest.json` (a new invocation id, compiled code, its --vars), which would change the
# manifest the code location loads and make every later run rebuild the spec cache.
DAGSTER_TARGET_PATH = Path("target") / "dagster"
MANIFEST_PATH = DBT_PROJECT_DIR / DAGSTER_TARGET_PATH / "manifest.json"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
KEPT_PARSES = 8


@functools.cache
def dbt_project(project_dir: Path = DBT_PROJECT_DIR) -> DbtProject:
    """dagster-dbt's project (default: this repo's), profiles beside it, Dagster's artifacts in
    `DAGSTER_TARGET_PATH`."""
    from dagster_dbt import DbtProject

    return DbtProject(
        project_dir=project_dir, profiles_dir=project_dir, target_path=DAGSTER_TARGET_PATH
    )


def dbt_executable() -> str:
    """The `dbt` installed next to this interpreter, so an un-activated venv works too."""
    sibling = Path(sys.executable).parent / "dbt"
    return str(sibling) if sibling.exists() else "dbt"


def _kept_parse(project_dir: Path, profile_key: str) -> Path:
    return project_dir / DAGSTER_TARGET_PATH / "partial_parse" / f"{profile_key}.msgpack"


def seed_partial_parse(project_dir: Path, target: Path, profile_key: str) -> None:
    """Copy a parse into a run's own target folder, so dbt parses only what changed: the last
    run's for the same warehouse (`profile_key`), else the prepared one. dbt re-parses the
    whole project when its profile's connection values differ from the saved parse's (a
    warehouse path other than `make manifest`'s: "profile has changed"), and dagster-dbt copies
    a parse only from dbt's default `target/`, which holds whatever dbt run by hand left there.
    dbt checks a seeded parse against the project and falls back to a full parse itself."""
    kept = _kept_parse(project_dir, profile_key)
    source = kept if kept.exists() else project_dir / DAGSTER_TARGET_PATH / PARTIAL_PARSE_FILE
    if source.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target / PARTIAL_PARSE_FILE)


def keep_partial_parse(project_dir: Path, target: Path, profile_key: str) -> None:
    """After dbt exited: its parse of this run, for the next run on the same warehouse. Replaced
    atomically (concurrent runs on a lake each leave a whole file); a read-only project (an
    image) keeps none, and its runs start from the prepared parse. The parses of the
    `KEPT_PARSES` warehouses used last are kept (~0.7 MB each)."""
    produced = target / PARTIAL_PARSE_FILE
    if not produced.exists():
        return
    kept = _kept_parse(project_dir, profile_key)
    partial = kept.with_name(f"{kept.name}.{os.getpid()}.tmp")
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(produced, partial)
        os.replace(partial, kept)
        by_age = sorted(kept.parent.glob("*.msgpack"), key=_mtime, reverse=True)
        for old in by_age[KEPT_PARSES:]:
            old.unlink(missing_ok=True)
    except OSError:
        partial.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # pruned by a concurrent run
        return 0.0


def installed_dbt_version() -> Version:
    """dbt-core's version as installed beside this interpreter (what `dbt_executable` runs)."""
    from importlib import metadata

    from packaging.version import parse

    return parse(metadata.version("dbt-core"))


def dbt_cli(project: DbtProject | None = None) -> DbtCliResource:
    """dagster-dbt's CLI resource for `project` (default: this repo's), with this venv's dbt.

    Without it (no dbt beside the interpreter), dagster-dbt's own resource, which asks the
    `dbt` on PATH for its version."""
    from dagster_dbt import DbtCliResource

    executable = dbt_executable()
    if executable == "dbt":
        return DbtCliResource(project_dir=project or dbt_project())
    from data_platform.dbt.cli_resource import VenvDbtCliResource

    # DbtCliResource's __init__ takes a DbtProject; mypy's pydantic plugin sees only the field.
    return VenvDbtCliResource(
        project_dir=project or dbt_project(),  # type: ignore[arg-type]
        dbt_executable=executable,
    )


class DbtResource(dg.ConfigurableResource):
    """The `dbt` resource of the dbt assets: where the project is. dagster-dbt's
    `DbtCliResource` is built from it inside the step, so loading the definitions does not
    import dagster-dbt."""

    project_dir: str = str(DBT_PROJECT_DIR)

    def cli_resource(self) -> DbtCliResource:
        return dbt_cli(dbt_project(Path(self.project_dir)))


def dbt_resource() -> DbtResource:
    return DbtResource()


def _project_files(project_dir: Path) -> list[Path]:
    sources = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "snapshots", "tests", "macros"):
        sources += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    return sources


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR, manifest: Path = MANIFEST_PATH) -> bool:
    """True when the manifest is missing or older than any file of the dbt project."""
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(path.stat().st_mtime > built for path in _project_files(project_dir))


def ensure_manifest(project: DbtProject | None = None) -> Path:
    """Run `dbt parse` only when the manifest is missing or stale; returns its path."""
    project = project or dbt_project()
    if manifest_is_stale(Path(project.project_dir), Path(project.manifest_path)):
        dbt_cli(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return Path(project.manifest_path)


def prepare_if_dev() -> None:
    """Like `DbtProject.prepare_if_dev`, but with this venv's dbt (no activated venv needed for
    `dagster dev`) and only when the manifest is stale (the spec cache then rebuilds itself)."""
    if os.environ.get("DAGSTER_IS_DEV_CLI") and manifest_is_stale():
        ensure_manifest()
