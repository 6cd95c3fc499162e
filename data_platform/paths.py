"""Default locations of the platform's local state, resolved when called (never at import)."""

from __future__ import annotations

import os
from pathlib import Path

WAREHOUSE_ENV = "DATA_PLATFORM_WAREHOUSE"
STATE_DIR_ENV = "DATA_PLATFORM_STATE_DIR"
DEFAULT_STATE_DIR = ".data"


def state_dir() -> Path:
    """Directory for local runtime state (warehouse file, checkpoints); `.data/` by default."""
    return Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR)).resolve()


def warehouse_path() -> Path:
    """The DuckDB warehouse file: `$DATA_PLATFORM_WAREHOUSE`, else `.data/warehouse.duckdb`."""
    configured = os.environ.get(WAREHOUSE_ENV)
    if configured:
        return Path(configured).resolve()
    return state_dir() / "warehouse.duckdb"
