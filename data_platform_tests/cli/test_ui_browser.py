"""Headless Chromium against the running `dagster dev`: the asset graph shows the platform's
assets and the GraphQL-launched backfill is listed on the backfills page. Screenshots go to
build/screenshots/ for a human to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from data_platform_tests.cli.dagster_dev import DagsterDev
from data_platform_tests.cli.test_ui_graphql import INGESTION_ASSETS
from data_platform_tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.ui, pytest.mark.timeout(1200)]  # see test_ui_graphql.py

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
REPOSITORY = (
    "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1600,1400"]  # fmt: skip


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(f"{binary} missing: `make test` installs chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    # An explicit driver path: selenium-manager never runs, so nothing is downloaded.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver: webdriver.Chrome, texts: list[str], timeout: float = 90) -> None:
    def all_present(d: webdriver.Chrome) -> bool:
        body = body_text(d)
        return all(text in body for text in texts)

    WebDriverWait(driver, timeout, poll_frequency=1).until(
        all_present, message=f"page never showed {texts}"
    )


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def dismiss_welcome_dialog(driver: webdriver.Chrome) -> None:
    """A fresh profile gets the one-time "Join the Dagster community" dialog; skip it and wait
    until it has faded out, so screenshots show the page."""
    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        if button.is_displayed():
            button.click()
    WebDriverWait(driver, 20).until(
        lambda d: "Join the Dagster community" not in body_text(d),
        message="the welcome dialog did not close",
    )


def body_text(driver: webdriver.Chrome) -> str:
    return driver.execute_script("return document.body ? document.body.innerText : ''")


def ingestion_group_url(server: DagsterDev) -> str:
    """The ingestion group's graph (the global lineage view collapses groups)."""
    data = server.graphql(REPOSITORY)
    [repo] = data["repositoriesOrError"]["nodes"]
    return (
        f"{server.url}/locations/{repo['name']}@{repo['location']['name']}/asset-groups/ingestion"
    )


def test_asset_graph_renders_the_platform_assets(
    dagster_dev: DagsterDev, browser: webdriver.Chrome, ui_backfill: dict
) -> None:
    """After the backfill, so the graph's nodes also show the materialized partitions."""
    browser.get(f"{dagster_dev.url}/asset-groups/")
    try:
        wait_for_text(browser, ["Global asset lineage", "ingestion"])
        dismiss_welcome_dialog(browser)
        browser.get(ingestion_group_url(dagster_dev))
        wait_for_text(browser, [*INGESTION_ASSETS, "raw_users"])
        dismiss_welcome_dialog(browser)
        # Every ingestion asset is a node of the rendered graph, not just a word on the page.
        for asset in [*INGESTION_ASSETS, "raw_users"]:
            WebDriverWait(browser, 30).until(
                lambda d, a=asset: d.find_elements(By.XPATH, f"//*[normalize-space()='{a}']")
            )
        WebDriverWait(browser, 60).until(
            lambda d: "Loading" not in body_text(d), message="asset nodes never finished loading"
        )
    finally:
        screenshot(browser, "asset_graph")
    assert "Dagster" in browser.title or "ingestion" in browser.title


def test_backfill_is_listed_on_the_backfills_page(
    dagster_dev: DagsterDev, browser: webdriver.Chrome, ui_backfill: dict
) -> None:
    browser.get(f"{dagster_dev.url}/overview/backfills")
    try:
        dismiss_welcome_dialog(browser)
        # dagster 1.13 redirects /overview/backfills to the runs page's backfills view.
        WebDriverWait(browser, 30).until(lambda d: "view=backfills" in d.current_url)
        wait_for_text(browser, [ui_backfill["id"], "Success"])
    finally:
        screenshot(browser, "backfills")
