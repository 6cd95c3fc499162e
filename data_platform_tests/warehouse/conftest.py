"""Session-scoped real S3 gateway for the DuckLake end-to-end test."""

from collections.abc import Iterator

import pytest

from data_platform_tests.dbt.conftest import dbt_assets_module, dbt_manifest  # noqa: F401
from data_platform_tests.lake import SeaweedS3


@pytest.fixture(scope="session")
def s3_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """SeaweedFS `weed server -s3` on free ports, killed by process group at the end."""
    with SeaweedS3(tmp_path_factory.mktemp("seaweedfs")) as gateway:
        yield gateway
