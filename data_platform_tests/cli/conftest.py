"""One real `dagster dev` shared by the UI tests (GraphQL and browser), stopped even on failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from data_platform_tests.cli.dagster_dev import DagsterDev


@pytest.fixture(scope="session")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    server = DagsterDev(tmp_path_factory.mktemp("dagster_dev"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ui_backfill(dagster_dev: DagsterDev) -> dict:
    """The three-day ingestion backfill, launched through GraphQL and completed by the daemon;
    shared so the browser test can find it on the backfills page."""
    from data_platform_tests.cli.test_ui_graphql import BACKFILL_DAYS, run_ingestion_backfill

    return run_ingestion_backfill(dagster_dev, BACKFILL_DAYS)
