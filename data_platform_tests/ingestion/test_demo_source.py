from datetime import date

from data_platform.ingestion import demo_source


def test_same_date_gives_same_rows() -> None:
    assert demo_source.generate_day(date(2024, 1, 15), 200) == demo_source.generate_day(
        date(2024, 1, 15), 200
    )
    assert demo_source.generate_day(date(2024, 1, 15), 200) != demo_source.generate_day(
        date(2024, 1, 16), 200
    )


def test_day_carries_the_dirt_staging_must_clean() -> None:
    day = demo_source.generate_day(date(2024, 1, 15), 3000)
    orders = day.orders
    amounts = [o["total_amount"] for o in orders]
    assert any(isinstance(a, str) and "$" in a for a in amounts)
    assert any(isinstance(a, str) and "," in a for a in amounts)
    assert any(isinstance(a, float) for a in amounts)
    assert any(a in demo_source.UNPARSEABLE_AMOUNTS for a in amounts)
    statuses = {o["status"] for o in orders}
    assert {" SHIPPED ", "canceled", "cancelled"} <= statuses
    assert any(o["currency"].islower() for o in orders)
    assert any(o["customer_id"] is None for o in orders)
    ids = [o["order_id"] for o in orders]
    assert len(ids) > len(set(ids)), "duplicate order rows within a day"
    known = {c["customer_id"] for c in day.customers}
    referenced = {o["customer_id"] for o in orders if o["customer_id"]}
    assert referenced - known, "some orders reference customers the feed does not know"


def test_users_change_and_disappear_over_time() -> None:
    early = {u["user_id"]: u for u in demo_source.generate_users(date(2024, 1, 1), 300)}
    later = {u["user_id"]: u for u in demo_source.generate_users(date(2024, 6, 1), 300)}
    common = early.keys() & later.keys()
    assert any(early[u]["email"] != later[u]["email"] for u in common)
    assert any(early[u]["address"] != later[u]["address"] for u in common)
    assert any(early[u]["status"] != later[u]["status"] for u in common)
    assert early.keys() - later.keys(), "some users are hard-deleted between the dates"


def test_a_quiet_day_has_no_rows() -> None:
    day = demo_source.generate_day(date(2024, 1, 15), 0)
    assert (day.orders, day.order_items, day.customers) == ([], [], [])
    page = demo_source.demo_page("orders", 1, 100, day=date(2024, 1, 15), orders_per_day=0)
    assert page["data"] == [] and page["next_page"] is None
