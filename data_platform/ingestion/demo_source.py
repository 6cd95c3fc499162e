"""Deterministic demo data for the orders API: the same date always gives the same rows.

The rows carry the dirt a staging layer must clean (amount strings with symbols and separators,
status spelling variants, lower-case currencies, null and unknown customer ids, duplicate order
rows), and users change over time so an SCD2 snapshot has history to capture.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported by the step that generates data, not at definitions load
    import numpy as np

DEFAULT_ORDERS_PER_DAY = 2000
DEFAULT_USER_COUNT = 300
CUSTOMER_COUNT = 20_000
PRODUCT_COUNT = 500
SEGMENTS = ("Consumer", "Corporate", "Home Office", "Small Business")

# Every spelling the source uses for each canonical status; staging must map them all.
STATUS_VARIANTS: dict[str, tuple[str, ...]] = {
    "pending": ("pending", "Pending", " PENDING ", "awaiting payment"),
    "processing": ("processing", "Processing", "PROCESSING ", "in progress"),
    "shipped": ("shipped", "Shipped", " SHIPPED ", "shipped "),
    "delivered": ("delivered", "Delivered", " DELIVERED", "complete"),
    "cancelled": ("cancelled", "Cancelled", "canceled", " CANCELED "),
    "returned": ("returned", "Returned", "RETURNED ", "refunded"),
}
STATUS_WEIGHTS = (
    ("delivered", 45),
    ("shipped", 20),
    ("processing", 12),
    ("pending", 10),
    ("cancelled", 8),
    ("returned", 5),
)
CURRENCY_VARIANTS = ("USD", "usd", "EUR", "eur", "GBP", "gbp", " usd", "Eur")
# Amount renderings: (template, symbol). Thousands separators are commas, decimals a point.
AMOUNT_FORMATS = ("{n}", "${c}", "USD {c}", "{c} USD", "€{c}", "£ {c}", "{n}")
UNPARSEABLE_AMOUNTS = ("N/A", "", "TBD")

NULL_CUSTOMER_SHARE = 0.02
UNKNOWN_CUSTOMER_SHARE = 0.01
DUPLICATE_SHARE = 0.015
UNPARSEABLE_AMOUNT_SHARE = 0.002
NUMERIC_AMOUNT_SHARE = 0.05

FIRST_NAMES = (
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Isla",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
)
LAST_NAMES = (
    "Novak",
    "Okafor",
    "Silva",
    "Tanaka",
    "Schmidt",
    "Dubois",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Jensen",
    "Moreau",
    "Petrov",
    "Garcia",
    "Ahmed",
    "Larsen",
    "Kim",
)
STREETS = ("Main St", "Oak Ave", "Harbour Rd", "Mill Lane", "Station Rd", "Elm St", "Park Way")
CITIES = ("Springfield", "Riverton", "Lakeside", "Hillview", "Fairport", "Brookfield")
USER_STATUSES = ("active", "inactive", "suspended")
USERS_EPOCH = date(2023, 6, 1)


def _render_amount(amount: float, roll: float, fmt: int) -> str | float:
    """Render an amount the way a sloppy upstream does: mostly strings, sometimes numbers."""
    if roll < UNPARSEABLE_AMOUNT_SHARE:
        return UNPARSEABLE_AMOUNTS[fmt % len(UNPARSEABLE_AMOUNTS)]
    if roll < UNPARSEABLE_AMOUNT_SHARE + NUMERIC_AMOUNT_SHARE:
        return amount
    return AMOUNT_FORMATS[fmt].format(n=f"{amount:.2f}", c=f"{amount:,.2f}")


def _customer_id(index: int) -> str:
    return f"CUST-{index:05d}"


_CANONICAL = [s for s, _ in STATUS_WEIGHTS]
_STATUS_P = [w / sum(w for _, w in STATUS_WEIGHTS) for _, w in STATUS_WEIGHTS]


def _statuses(rng: np.random.Generator, n: int) -> list[str]:
    canonical = rng.choice(len(_CANONICAL), size=n, p=_STATUS_P).tolist()
    variant = rng.integers(0, 4, n).tolist()
    return [STATUS_VARIANTS[_CANONICAL[c]][v] for c, v in zip(canonical, variant, strict=True)]


@dataclass(frozen=True)
class DemoDay:
    """All rows the source serves for one date (customers built on first use)."""

    orders: list[dict[str, Any]]
    order_items: list[dict[str, Any]]
    customer_indexes: tuple[int, ...]

    @property
    def customers(self) -> list[dict[str, Any]]:
        return [customer_record(index) for index in self.customer_indexes]


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def generate_day(day: date, orders_per_day: int = DEFAULT_ORDERS_PER_DAY) -> DemoDay:
    """Generate one day's orders, their items and the customers active that day.

    Vectorised with numpy (a year of default volume is ~750k orders), seeded by the date.
    """
    n = orders_per_day
    if n <= 0:
        return DemoDay(orders=[], order_items=[], customer_indexes=())
    import numpy as np

    rng = np.random.default_rng(_seed("orders", day.isoformat(), n))
    day_str = day.isoformat()
    day_start = datetime.combine(day, time())
    order_ids = [f"ORD-{day:%Y%m%d}-{i:06d}" for i in range(n)]

    item_counts = rng.integers(1, 5, n)
    n_items = int(item_counts.sum())
    quantities = rng.integers(1, 6, n_items)
    prices = np.round(np.exp(rng.normal(3.2, 1.0, n_items)), 2)
    products = rng.integers(0, PRODUCT_COUNT, n_items).tolist()
    starts = np.concatenate(([0], np.cumsum(item_counts)[:-1]))
    totals = np.round(np.add.reduceat(quantities * prices, starts), 2).tolist()
    owner = np.repeat(np.arange(n), item_counts).tolist()
    items = [
        {
            "order_id": order_ids[o],
            "product_id": f"PROD-{p:04d}",
            "quantity": q,
            "unit_price": u,
            "order_date": day_str,
        }
        for o, p, q, u in zip(owner, products, quantities.tolist(), prices.tolist(), strict=True)
    ]

    customer_roll = rng.random(n).tolist()
    customer_index = rng.integers(0, CUSTOMER_COUNT, n).tolist()
    unknown_index = rng.integers(0, 10_000, n).tolist()
    seconds = rng.integers(0, 86_000, n).tolist()
    amount_roll = rng.random(n).tolist()
    amount_fmt = rng.integers(0, len(AMOUNT_FORMATS), n).tolist()
    currencies = rng.integers(0, len(CURRENCY_VARIANTS), n).tolist()
    statuses = _statuses(rng, n)
    duplicate = (rng.random(n) < DUPLICATE_SHARE).tolist()
    duplicate_status = _statuses(rng, n)
    duplicate_delay = rng.integers(1, 400, n).tolist()

    orders: list[dict[str, Any]] = []
    active: set[int] = set()
    for i in range(n):
        roll = customer_roll[i]
        if roll < NULL_CUSTOMER_SHARE:
            customer_id = None
        elif roll < NULL_CUSTOMER_SHARE + UNKNOWN_CUSTOMER_SHARE:
            customer_id = f"CUST-X{unknown_index[i]:04d}"
        else:
            active.add(customer_index[i])
            customer_id = _customer_id(customer_index[i])
        updated_at = day_start + timedelta(seconds=seconds[i])
        order = {
            "order_id": order_ids[i],
            "customer_id": customer_id,
            "order_date": day_str,
            "total_amount": _render_amount(totals[i], amount_roll[i], amount_fmt[i]),
            "currency": CURRENCY_VARIANTS[currencies[i]],
            "status": statuses[i],
            "updated_at": updated_at.isoformat(),
        }
        orders.append(order)
        if duplicate[i]:
            # The source re-emits the order later the same day, sometimes with a newer status.
            later = updated_at + timedelta(seconds=duplicate_delay[i])
            orders.append({**order, "status": duplicate_status[i], "updated_at": later.isoformat()})
    return DemoDay(orders=orders, order_items=items, customer_indexes=tuple(sorted(active)))


@lru_cache(maxsize=CUSTOMER_COUNT)
def customer_record(index: int) -> dict[str, Any]:
    """A customer's attributes, fixed per customer id."""
    rng = random.Random(f"customer:{index}")
    return {
        "customer_id": _customer_id(index),
        "customer_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        "customer_segment": rng.choice(SEGMENTS),
        "signup_date": (date(2020, 1, 1) + timedelta(days=rng.randrange(1400))).isoformat(),
    }


@dataclass(frozen=True)
class _UserPlan:
    user_id: str
    first: str
    last: str
    created: date
    period_days: int
    deleted: date | None


def _user_plan(index: int) -> _UserPlan:
    rng = random.Random(f"user:{index}")
    created = USERS_EPOCH + timedelta(days=rng.randrange(400))
    deleted = created + timedelta(days=rng.randrange(60, 700)) if rng.random() < 0.05 else None
    return _UserPlan(
        user_id=f"USR-{index:05d}",
        first=rng.choice(FIRST_NAMES).lower(),
        last=rng.choice(LAST_NAMES).lower(),
        created=created,
        period_days=rng.randrange(5, 60),
        deleted=deleted,
    )


def user_record(index: int, as_of: date) -> dict[str, Any] | None:
    """The user as it is on `as_of`, or None when not yet created or already hard-deleted.

    Every `period_days` the user changes one attribute, rotating email, address, status.
    """
    plan = _user_plan(index)
    if as_of < plan.created or (plan.deleted is not None and as_of >= plan.deleted):
        return None
    version = (as_of - plan.created).days // plan.period_days
    email_v, address_v, status_v = (version + 2) // 3, (version + 1) // 3, version // 3
    email_suffix = "" if email_v == 0 else str(email_v)
    street_no = 10 + (index * 7 + address_v * 13) % 190
    return {
        "user_id": plan.user_id,
        "email": f"{plan.first}.{plan.last}{email_suffix}@example.com",
        "address": f"{street_no} {STREETS[(index + address_v) % len(STREETS)]}, "
        f"{CITIES[(index + address_v) % len(CITIES)]}",
        "status": USER_STATUSES[status_v % len(USER_STATUSES)] if status_v else "active",
        "updated_at": datetime.combine(
            plan.created + timedelta(days=version * plan.period_days), time()
        ).isoformat(),
    }


def generate_users(as_of: date, user_count: int = DEFAULT_USER_COUNT) -> list[dict[str, Any]]:
    """The users table as it is on `as_of`."""
    records = (user_record(index, as_of) for index in range(user_count))
    return [record for record in records if record is not None]


@lru_cache(maxsize=8)
def _cached_day(day: date, orders_per_day: int) -> DemoDay:
    return generate_day(day, orders_per_day)


def demo_page(
    entity: str,
    page: int,
    page_size: int,
    day: date | None = None,
    as_of: date | None = None,
    orders_per_day: int = DEFAULT_ORDERS_PER_DAY,
    user_count: int = DEFAULT_USER_COUNT,
) -> dict[str, Any]:
    """One page of the API contract: {data, page, page_size, total_pages, next_page}."""
    if entity == "users":
        rows = generate_users(as_of or date.today(), user_count)
    else:
        if day is None:
            raise ValueError(f"{entity} requires a date")
        rows = getattr(_cached_day(day, orders_per_day), entity)
    total_pages = max(1, math.ceil(len(rows) / page_size))
    start = (page - 1) * page_size
    return {
        "data": [dict(row) for row in rows[start : start + page_size]],  # callers may mutate
        "page": page,
        "page_size": page_size,
        "total_pages": total_pages,
        "next_page": page + 1 if page < total_pages else None,
    }
