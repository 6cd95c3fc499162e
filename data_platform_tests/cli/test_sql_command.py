"""`data-platform sql`: a read-only query on the real warehouse file, printed as a table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from data_platform.cli import main as cli


def test_sql_prints_the_result_and_never_writes(
    warehouse_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit, match="no warehouse at"):
        cli.main(["sql", "SELECT 1"])
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse_path)) as conn:
        conn.execute("CREATE SCHEMA stream; CREATE TABLE stream.t AS SELECT 'not_json' AS code")
    assert cli.main(["sql", "SELECT code, COUNT(*) AS n FROM stream.t GROUP BY 1"]) == 0
    out = capsys.readouterr().out
    assert "not_json" in out and all(len(line) <= 100 for line in out.splitlines())
    with pytest.raises(duckdb.Error, match="read-only"):
        cli.main(["sql", "DROP TABLE stream.t"])
