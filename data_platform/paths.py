"""Default locations of the platform's local state, resolved when called (never at import)."""

from __future__ import annotations

import os
import re
from pathlib import Path

WAREHOUSE_ENV = "DATA_PLATFORM_WAREHOUSE"
STATE_DIR_ENV = "DATA_PLATFORM_STATE_DIR"
DEFAULT_STATE_DIR = ".data"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def state_dir() -> Path:
    """Directory for local runtime state (warehouse file, checkpoints); `.data/` by default."""
    return Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR)).resolve()


def warehouse_path() -> Path:
    """The DuckDB warehouse file: `$DATA_PLATFORM_WAREHOUSE`, else `.data/warehouse.duckdb`.

    Only for a file warehouse; `data_platform.warehouse.warehouse_from_env()` handles both
    kinds. A URI here (a DuckLake) fails instead of becoming a file named after it.
    """
    configured = os.environ.get(WAREHOUSE_ENV)
    if configured and _SCHEME.match(configured):
        raise ValueError(f"{WAREHOUSE_ENV}={configured.split(':', 1)[0]}:... is not a DuckDB file")
    if configured:
        return Path(configured).resolve()
    return state_dir() / "warehouse.duckdb"
