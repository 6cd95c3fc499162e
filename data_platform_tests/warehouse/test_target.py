"""Which warehouse a configuration names, and the clear failure for one the platform cannot use."""

from pathlib import Path

import pytest

from data_platform import paths, warehouse
from data_platform.resources import WarehouseResource
from data_platform.warehouse import LakeWarehouse, S3Settings, WarehouseConfigError

URI = "ducklake:postgres:dbname=lake host=127.0.0.1 user=postgres"


def test_a_path_is_the_embedded_file(tmp_path: Path) -> None:
    target = warehouse.parse_warehouse(str(tmp_path / "w.duckdb"))
    assert target == warehouse.FileWarehouse(tmp_path / "w.duckdb")
    assert not target.is_lake


def test_a_ducklake_uri_with_a_data_path_is_a_lake(tmp_path: Path) -> None:
    target = warehouse.parse_warehouse(URI, data_path=str(tmp_path / "data"))
    assert target == LakeWarehouse(URI, f"{tmp_path / 'data'}/", None)
    s3 = warehouse.parse_warehouse(URI, data_path="s3://bucket/prefix", s3=S3Settings())
    assert isinstance(s3, LakeWarehouse) and s3.data_path == "s3://bucket/prefix/"


@pytest.mark.parametrize(
    ("value", "data_path", "message"),
    [
        ("postgres://127.0.0.1/lake", None, "DuckDB file path or a DuckLake URI"),
        ("md:my_db", None, "got a md: URI"),
        ("ducklake:sqlite:lake.sqlite", "/tmp/x", "only a PostgreSQL DuckLake catalog"),
        ("ducklake:postgres:host=127.0.0.1", "/tmp/x", "dbname=<database>"),
        (URI, None, "DATA_PLATFORM_LAKE_DATA_PATH"),
        (URI, "gs://bucket/x", "a folder or s3://bucket/prefix"),
    ],
)
def test_an_unusable_value_fails_clearly(value: str, data_path: str | None, message: str) -> None:
    with pytest.raises(WarehouseConfigError, match=message):
        warehouse.parse_warehouse(value, data_path=data_path)


def test_a_lake_uri_never_becomes_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old behaviour: a file literally named `ducklake:postgres:...` in the working dir."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_PLATFORM_WAREHOUSE", URI)
    monkeypatch.delenv("DATA_PLATFORM_LAKE_DATA_PATH", raising=False)
    with (
        pytest.raises(WarehouseConfigError, match="DATA_PLATFORM_LAKE_DATA_PATH"),
        WarehouseResource().connect(),
    ):
        pass
    with pytest.raises(ValueError, match="is not a DuckDB file"):
        paths.warehouse_path()
    assert list(tmp_path.iterdir()) == []


def test_secrets_stay_out_of_repr_and_descriptions() -> None:
    s3 = S3Settings(endpoint="s3.local:9000", key_id="AKIA", secret="very-secret")
    lake = LakeWarehouse(URI + " password=pg-secret", "s3://bucket/", s3)
    assert "very-secret" not in repr(lake) and "very-secret" not in lake.describe()
    assert "pg-secret" not in lake.describe()


def test_literals_in_attach_and_secret_sql_are_quoted() -> None:
    lake = LakeWarehouse(URI, "/data/it's here/", None)
    assert lake.attach_sql() == f"ATTACH '{URI}' AS lake (DATA_PATH '/data/it''s here/')"
    secret = S3Settings(key_id="k", secret="s'; DROP TABLE x; --").secret_sql()
    assert "SECRET 's''; DROP TABLE x; --'" in secret
    assert warehouse.quote_ident('we"ird') == '"we""ird"'
