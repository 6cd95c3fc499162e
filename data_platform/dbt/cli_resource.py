"""dagster-dbt's `DbtCliResource` without the two start-up costs this project never uses.

Before every `dbt` command, `DbtCliResource.cli` runs `dbt --version` in a subprocess (to tell
dbt-core from the Fusion engine) and builds a dbt-core adapter in the step's process (for its
optional row-count and column-metadata fetches). Here the dbt executable is the venv's own, so
its version is dbt-core's installed version, and row counts are read by `runner` after dbt has
exited (DuckDB admits one writer), so no adapter is needed: together 2-3 s of every dbt step.
Imported only inside a step, like dagster-dbt itself.

Both overridden methods are private to dagster-dbt (0.29): re-check them when upgrading it
(`test_spec_cache.py` checks the version against the executable's own `dbt --version`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster_dbt import DbtCliResource
from packaging import version

from data_platform.dbt.project import installed_dbt_version


class VenvDbtCliResource(DbtCliResource):
    """`DbtCliResource` for the dbt-core installed beside this interpreter (`dbt_executable`)."""

    @property
    def _cli_version(self) -> version.Version:
        return installed_dbt_version()

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        """No adapter: dagster-dbt only uses it for fetches this project does not make (the
        invocation accepts None, as for the Fusion engine)."""
        return None
