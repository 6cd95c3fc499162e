"""Which warehouse `DATA_PLATFORM_WAREHOUSE` names: a DuckDB file or a DuckLake, and how to attach.

A DuckDB file admits one writing process; a DuckLake (catalog in PostgreSQL, Parquet data in a
folder or on S3) admits many. Both are used through the same DuckDB SQL: a lake connection is
an in-memory DuckDB with the lake attached as `lake` and made the default catalog (`USE lake`),
so `raw.orders` names the same table on either backend.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from data_platform.paths import WAREHOUSE_ENV, state_dir
from data_platform.warehouse.sql import sql_literal

LAKE_DATA_PATH_ENV = "DATA_PLATFORM_LAKE_DATA_PATH"
S3_ENDPOINT_ENV = "DATA_PLATFORM_S3_ENDPOINT"
S3_REGION_ENV = "DATA_PLATFORM_S3_REGION"
S3_URL_STYLE_ENV = "DATA_PLATFORM_S3_URL_STYLE"
S3_USE_SSL_ENV = "DATA_PLATFORM_S3_USE_SSL"
S3_KEY_ID_ENV = "DATA_PLATFORM_S3_KEY_ID"
S3_SECRET_ENV = "DATA_PLATFORM_S3_SECRET"  # a secret: environment only, never logged

LAKE_PREFIX = "ducklake:"
LAKE_CATALOG_PREFIX = "ducklake:postgres:"
LAKE_ALIAS = "lake"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


class WarehouseConfigError(ValueError):
    """The configured warehouse is neither a DuckDB file path nor a usable DuckLake."""


@dataclass(frozen=True)
class FileWarehouse:
    """The embedded default: one DuckDB file, one writing process at a time."""

    path: Path

    @property
    def is_lake(self) -> bool:
        return False

    def describe(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class S3Settings:
    """How DuckDB reaches an S3 data path; the secret is kept out of repr and logs."""

    endpoint: str | None = None
    region: str = "us-east-1"
    url_style: str = "vhost"
    use_ssl: bool = True
    key_id: str | None = None
    secret: str | None = field(default=None, repr=False)

    def secret_sql(self) -> str:
        """CREATE SECRET for the lake's data path (it takes no bound parameters: literals)."""
        if self.url_style not in ("vhost", "path"):
            raise WarehouseConfigError(f"{S3_URL_STYLE_ENV} must be vhost or path")
        options = [
            "TYPE s3",
            f"REGION {sql_literal(self.region)}",
            f"URL_STYLE {sql_literal(self.url_style)}",
            f"USE_SSL {'true' if self.use_ssl else 'false'}",
        ]
        if self.endpoint:
            options.append(f"ENDPOINT {sql_literal(self.endpoint)}")
        if self.key_id:
            options.append(f"KEY_ID {sql_literal(self.key_id)}")
            options.append(f"SECRET {sql_literal(self.secret or '')}")
        return f"CREATE OR REPLACE TEMPORARY SECRET lake_data ({', '.join(options)})"


@dataclass(frozen=True)
class LakeWarehouse:
    """A DuckLake: catalog in PostgreSQL (`uri`), Parquet files under `data_path`."""

    uri: str
    data_path: str
    s3: S3Settings | None = None

    @property
    def is_lake(self) -> bool:
        return True

    def describe(self) -> str:
        """The URI with any password masked, and the data path: safe to log and print."""
        masked = _PASSWORD.sub(r"\1***", self.uri)
        return f"{masked} (data {self.data_path})"

    def attach_sql(self, read_only: bool = False) -> str:
        options = [f"DATA_PATH {sql_literal(self.data_path)}"]
        if read_only:
            options.append("READ_ONLY")
        return f"ATTACH {sql_literal(self.uri)} AS {LAKE_ALIAS} ({', '.join(options)})"


Warehouse = FileWarehouse | LakeWarehouse


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise WarehouseConfigError(f"{S3_USE_SSL_ENV} must be true or false, got {value!r}")


def s3_settings_from_env(env: Mapping[str, str]) -> S3Settings:
    return S3Settings(
        endpoint=env.get(S3_ENDPOINT_ENV) or None,
        region=env.get(S3_REGION_ENV) or "us-east-1",
        url_style=env.get(S3_URL_STYLE_ENV) or "vhost",
        use_ssl=_flag(env.get(S3_USE_SSL_ENV), True),
        key_id=env.get(S3_KEY_ID_ENV) or None,
        secret=env.get(S3_SECRET_ENV) or None,
    )


def parse_warehouse(
    value: str | Path | None,
    data_path: str | None = None,
    s3: S3Settings | None = None,
) -> Warehouse:
    """A warehouse from a file path or a DuckLake URI; anything else fails with a clear error.

    Without `value`, the local default file under the state directory.
    """
    if value is None or str(value) == "":
        return FileWarehouse(state_dir() / "warehouse.duckdb")
    text = str(value)
    if isinstance(value, Path) or text == ":memory:" or not _SCHEME.match(text):
        return FileWarehouse(Path(text) if text == ":memory:" else Path(text).resolve())
    if not text.startswith(LAKE_PREFIX):
        raise WarehouseConfigError(
            f"{WAREHOUSE_ENV} must be a DuckDB file path or a DuckLake URI "
            f"({LAKE_CATALOG_PREFIX}dbname=... host=...), got a {text.split(':', 1)[0]}: URI"
        )
    if not text.startswith(LAKE_CATALOG_PREFIX):
        raise WarehouseConfigError(
            f"only a PostgreSQL DuckLake catalog admits many writers: {WAREHOUSE_ENV} must start "
            f"with {LAKE_CATALOG_PREFIX!r}"
        )
    if "dbname=" not in text:
        raise WarehouseConfigError(f"{WAREHOUSE_ENV}: the DuckLake catalog needs dbname=<database>")
    if not data_path:
        raise WarehouseConfigError(
            f"a DuckLake warehouse needs {LAKE_DATA_PATH_ENV} (a folder or s3://bucket/prefix)"
        )
    if data_path.startswith("s3://"):
        return LakeWarehouse(text, data_path if data_path.endswith("/") else data_path + "/", s3)
    if _SCHEME.match(data_path):
        raise WarehouseConfigError(f"{LAKE_DATA_PATH_ENV} must be a folder or s3://bucket/prefix")
    folder = Path(data_path).resolve()
    return LakeWarehouse(text, f"{folder}/", None)


def warehouse_from_env(env: Mapping[str, str] | None = None) -> Warehouse:
    """The warehouse the environment configures (read when called, never at import)."""
    env = os.environ if env is None else env
    return parse_warehouse(
        env.get(WAREHOUSE_ENV) or None,
        data_path=env.get(LAKE_DATA_PATH_ENV) or None,
        s3=s3_settings_from_env(env),
    )


ENV_NAMES = (
    WAREHOUSE_ENV,
    LAKE_DATA_PATH_ENV,
    S3_ENDPOINT_ENV,
    S3_REGION_ENV,
    S3_URL_STYLE_ENV,
    S3_USE_SSL_ENV,
    S3_KEY_ID_ENV,
    S3_SECRET_ENV,
)


def warehouse_env(target: Warehouse) -> dict[str, str]:
    """Environment variables that make a child process (dbt, a CLI) use `target`."""
    if isinstance(target, FileWarehouse):
        return {WAREHOUSE_ENV: str(target.path)}
    env = {WAREHOUSE_ENV: target.uri, LAKE_DATA_PATH_ENV: target.data_path}
    if target.s3:
        s3 = target.s3
        env.update(
            {
                S3_ENDPOINT_ENV: s3.endpoint or "",
                S3_REGION_ENV: s3.region,
                S3_URL_STYLE_ENV: s3.url_style,
                S3_USE_SSL_ENV: "true" if s3.use_ssl else "false",
                S3_KEY_ID_ENV: s3.key_id or "",
                S3_SECRET_ENV: s3.secret or "",
            }
        )
    return env
