"""Install DuckDB's lake extensions from their pip wheels, so nothing downloads at run time.

The registry carries ducklake, postgres and httpfs only as wheels (`duckdb-extension-*`); each
holds `extensions/v<duckdb>/<name>.duckdb_extension`. `INSTALL '<file>'` copies it into DuckDB's
extension folder, after which a bare `LOAD` works in every process (dbt-duckdb's too).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb

from data_platform.warehouse.sql import sql_literal

LAKE_EXTENSIONS = ("ducklake", "postgres", "httpfs")


def extension_file(name: str) -> Path:
    """The `.duckdb_extension` file shipped by the wheel `duckdb-extension-<name>`."""
    package = importlib.import_module(f"duckdb_extension_{name}")
    folder = Path(package.__file__ or "").parent / "extensions" / f"v{duckdb.__version__}"
    found = folder / f"{name}.duckdb_extension"
    if not found.is_file():
        raise FileNotFoundError(
            f"{found} is missing: duckdb-extension-{name} must match duckdb {duckdb.__version__}"
        )
    return found


def install_lake_extensions(conn: duckdb.DuckDBPyConnection | None = None) -> list[Path]:
    """INSTALL each lake extension from its wheel's file (idempotent); returns the files."""
    own = conn is None
    conn = conn or duckdb.connect()
    try:
        files = [extension_file(name) for name in LAKE_EXTENSIONS]
        for file in files:
            # INSTALL takes no bound parameter; the path is a quoted literal.
            conn.execute(f"INSTALL {sql_literal(str(file))}")
        return files
    finally:
        if own:
            conn.close()


if __name__ == "__main__":
    for path in install_lake_extensions():
        print(f"installed {path.name}")
