"""The UI walkthrough (docs/operations.md), click by click, in headless Chromium (Playwright).

Playwright drives Debian's `/usr/bin/chromium` (`executable_path`), so no browser is
downloaded. Each step below is a sentence of the walkthrough: when the UI and the docs
disagree (a label, a dialog, the range syntax), this test fails. Screenshots of each step
land in build/screenshots/walkthrough_*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_api
import pytest

from data_platform.cli.produce_orders import produce_orders
from data_platform.kafka.local_broker import LocalBroker
from data_platform.orders.event_producer import ProducedRecord
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform_tests.cli.dagster_dev import DagsterDev
from data_platform_tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.ui, pytest.mark.timeout(1500)]

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
RAW_ASSETS = ["raw_orders", "raw_order_items", "raw_customers"]
WALKTHROUGH = (REPO_ROOT / "docs" / "operations.md").read_text().split("## UI walkthrough")[1]
WALKTHROUGH = WALKTHROUGH.split("\n## ")[0]
# Typed exactly as the walkthrough says: the dialog's syntax for a range is `[first...last]`.
README_RANGE = re.search(r"in\s+brackets such as `(\[[^`]+\])`", WALKTHROUGH)[1]  # type: ignore[index]
# What the test clicks or reads is what the walkthrough tells a person to click or read.
STEPS = [
    "Lineage", "expand icon", "Shift-click", "Materialize selected (3)", "Show all partitions",
    "Launch backfill", "Runs → Backfills", "Checks", "[ERROR, blocking]", "failing_rows",
    "partition_range", "orders_dlq", "Row count", "Columns", "rows_by_reason",
    "latest_dead_letters", "dlq_rate", "[ERROR]",
]  # fmt: skip
# The dead letters' preview, as the walkthrough lists its columns.
PREVIEW_COLUMNS = ["topic", "partition", "offset", "reason", "message", "payload"]
DLQ_EVENTS, DLQ_INVALID_RATE, DLQ_SEED = 200, 0.03, 7  # under dlq_rate's 5%: the check passes


def test_the_walkthrough_names_every_step_this_test_takes() -> None:
    flat = " ".join(WALKTHROUGH.split())
    assert [s for s in STEPS if s not in flat] == []


BACKFILLS = """{ partitionBackfillsOrError(limit: 20) { ... on PartitionBackfills {
  results { id status numPartitions assetSelection { path } } } } }"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[playwright_api.Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: `make test` installs chromium")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update"],
        )  # fmt: skip
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1200})
        finally:
            browser.close()


def shot(page: playwright_api.Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"walkthrough_{name}.png"))


def skip_welcome_whenever_shown(page: playwright_api.Page) -> None:
    """A fresh profile gets the one-time "Join the Dagster community" dialog, at a moment of its
    own choosing; Playwright clicks Skip whenever it stands in the way of the next action."""
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda _: page.get_by_role("button", name="Skip").first.click(),
    )


def graph_node(page: playwright_api.Page, name: str) -> playwright_api.Locator:
    """A node of the rendered asset graph (an SVG foreignObject), not the sidebar's entry."""
    return page.locator("foreignObject").filter(has=page.get_by_text(name, exact=True)).first


DLQ_MATERIALIZATIONS = """{ assetOrError(assetKey: {path: ["orders_dlq"]}) { ... on Asset {
  assetMaterializations(limit: 1) { runId } } } }"""


@pytest.fixture(scope="module")
def kafka(dagster_dev: DagsterDev) -> Iterator[KafkaResource]:
    """A broker where the server's Kafka sensor looks (until now a closed port)."""
    with LocalBroker(port=dagster_dev.kafka_port) as broker:
        resource = KafkaResource(bootstrap_servers=broker.bootstrap_servers)
        resource.ensure_topics()
        yield resource


def load_dead_letters(server: DagsterDev, kafka: KafkaResource) -> list[ProducedRecord]:
    """Events with poison, and the batch the daemon's sensor loads from them: what `orders_dlq`
    shows after the demo. Done after the backfill, so the Spark window run it starts does not
    hold the warehouse pool while the backfill waits."""
    sent = produce_orders(kafka, DLQ_EVENTS, invalid_rate=DLQ_INVALID_RATE, seed=DLQ_SEED)
    poison = [record for *_, record in sent if record.poison]
    assert poison, "the seed produced no poison record"
    deadline = time.monotonic() + 600
    while not server.graphql(DLQ_MATERIALIZATIONS)["assetOrError"]["assetMaterializations"]:
        assert time.monotonic() < deadline, f"no orders_dlq batch:\n{server.log()}"
        time.sleep(3)
    return poison


def see_the_dead_letters(page: playwright_api.Page, url: str, poison: list[ProducedRecord]) -> None:
    """The walkthrough's "See the dead letters" bullet."""
    expect = playwright_api.expect
    page.goto(f"{url}/assets/orders_dlq")
    # Overview: the whole table's row count, its columns, the reasons and the latest rows.
    status = page.get_by_text("Row count", exact=True).locator("xpath=../..")
    expect(status).to_contain_text(re.compile(rf"Row count\s*{len(poison)}(?!\d)"), timeout=90_000)
    expect(page.get_by_text("Columns", exact=True).first).to_be_visible()
    expect(page.get_by_text("error_code", exact=True).first).to_be_visible()
    expect(page.get_by_text("rows_by_reason", exact=True).first).to_be_visible()
    expect(page.get_by_text("latest_dead_letters", exact=True).first).to_be_visible()
    preview = page.locator("table").filter(has=page.get_by_text("payload", exact=True)).last
    for column in PREVIEW_COLUMNS:
        expect(preview.get_by_text(column, exact=True).first).to_be_visible()
    for reason in {record.poison for record in poison}:
        expect(preview.get_by_text(str(reason), exact=True).first).to_be_visible()
    shot(page, "6_dead_letters")
    # Checks tab: dlq_rate with its severity.
    page.get_by_text("Checks", exact=True).first.click()
    page.get_by_text("dlq_rate", exact=True).first.click()
    expect(page.get_by_text("[ERROR] Fails when", exact=False).first).to_be_visible(timeout=60_000)
    shot(page, "7_dlq_checks")


def launched_backfill(server: DagsterDev, timeout: float = 900) -> dict:
    """The walkthrough's backfill (7 partitions of the three raw assets), once it is done."""
    deadline = time.monotonic() + timeout
    backfill: dict = {}
    while time.monotonic() < deadline:
        results = server.graphql(BACKFILLS)["partitionBackfillsOrError"]["results"]
        ours = [
            b for b in results
            if b["numPartitions"] == 7
            and sorted(k["path"][-1] for k in b["assetSelection"]) == sorted(RAW_ASSETS)
        ]  # fmt: skip
        if ours:
            backfill = ours[0]
            if backfill["status"] not in ("REQUESTED", "CANCELING"):
                return backfill
        time.sleep(3)
    raise AssertionError(f"backfill not done after {timeout}s: {backfill}\n{server.log()}")


def test_readme_ui_walkthrough(
    dagster_dev: DagsterDev, page: playwright_api.Page, kafka: KafkaResource
) -> None:
    expect = playwright_api.expect
    # "See the assets: Lineage shows the global graph with one box per group"
    skip_welcome_whenever_shown(page)
    page.goto(dagster_dev.url)
    page.get_by_role("link", name="Lineage").first.click()
    expect(page.get_by_text("Global asset lineage").first).to_be_visible(timeout=90_000)
    for group in ("ingestion", "staging", "marts", "snapshots", "streaming"):
        expect(graph_node(page, group)).to_be_visible(timeout=60_000)
    shot(page, "1_lineage")

    # "open a group, e.g. ingestion (its expand icon)": the raw assets become nodes
    graph_node(page, "ingestion").get_by_role("img", name="unfold_more").click()
    for asset in RAW_ASSETS:  # (raw_users is below them, outside the rendered viewport)
        expect(graph_node(page, asset)).to_be_visible(timeout=60_000)

    # "click raw_orders, then Shift-click raw_order_items and raw_customers"
    for i, asset in enumerate(RAW_ASSETS):
        graph_node(page, asset).get_by_text(asset, exact=True).first.click(
            modifiers=["Shift"] if i else None
        )
    shot(page, "2_selected")

    # "click Materialize selected (3)"
    page.get_by_role("button", name="Materialize selected (3)").click()
    dialog = page.get_by_role("dialog").first
    expect(dialog.get_by_text("Launch runs to materialize 3 assets")).to_be_visible(timeout=60_000)
    # "it opens on the last 90 days: click Show all partitions"
    dialog.get_by_text("Show all partitions").click()
    # "type the range in brackets, [2024-02-01...2024-02-07], and press Enter"
    partitions = dialog.get_by_placeholder("ex: 2024-01-01", exact=False)
    partitions.fill(README_RANGE)
    partitions.press("Enter")
    expect(dialog.get_by_text("7 partitions", exact=True)).to_be_visible(timeout=30_000)
    shot(page, "3_partitions")
    dialog.get_by_role("button", name="Launch backfill").click()
    expect(dialog).to_be_hidden(timeout=60_000)

    # "Follow it: Runs → Backfills"
    backfill = launched_backfill(dagster_dev)
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    page.get_by_role("link", name="Runs").first.click()
    page.get_by_text("Backfills", exact=True).first.click()
    page.wait_for_url("**view=backfills**", timeout=30_000)
    # The table's rows are divs: the innermost one holding this backfill's link and its target.
    row = (
        page.locator("div")
        .filter(has=page.locator(f"a[href$='/runs/b/{backfill['id']}']"))
        .filter(has=page.get_by_role("button", name="7 partitions"))
        .last
    )
    expect(row).to_contain_text("Success", timeout=60_000)
    shot(page, "4_backfills")

    # "Check results: on an asset's page the Checks tab shows each check's latest result,
    # severity and metadata (e.g. failing_rows)"
    page.goto(f"{dagster_dev.url}/assets/raw_orders")
    page.get_by_text("Checks", exact=True).first.click()
    expect(page.get_by_text("order_date_within_partition").first).to_be_visible(timeout=60_000)
    page.get_by_text("order_date_within_partition").first.click()
    expect(page.get_by_text("[ERROR, blocking]", exact=False).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("This is a blocking asset check", exact=False).first).to_be_visible()
    expect(page.get_by_text("failing_rows").first).to_be_visible(timeout=60_000)
    # "a check over a range of days ... its metadata's partition_range names the days"
    expect(page.get_by_text("partition_range").first).to_be_visible()
    expect(page.get_by_text(README_RANGE.strip("[]"), exact=True).first).to_be_visible()
    shot(page, "5_checks")

    # "See the dead letters: open orders_dlq ... Checks tab: dlq_rate, [ERROR]"
    see_the_dead_letters(page, dagster_dev.url, load_dead_letters(dagster_dev, kafka))
