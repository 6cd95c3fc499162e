"""Asset checks evaluated inside the micro-batch step (results land with each materialization).

None of them blocks: nothing in the graph reads `orders_events` or `orders_dlq`, and the batch
is already committed when they are evaluated, so failing the step would stop no downstream work;
it would only mark a loaded batch's run failed. The ERROR checks fail `data-platform checks`.
"""

from typing import TYPE_CHECKING

import dagster as dg

from data_platform.check_specs import ERROR, WARN, check_result, check_spec
from data_platform.streaming.microbatch.offsets import ledger_problems

if TYPE_CHECKING:  # pyarrow: imported by the step, not at definitions load
    from data_platform.streaming.microbatch.order_batch import SplitBatch

DEFAULT_DLQ_RATE_THRESHOLD = 0.05

REQUIRED_FIELDS = check_spec(
    "required_fields",
    "orders_events",
    WARN,
    "Fails when any record of the batch was routed to the DLQ; counts per reason.",
)
OFFSETS_CONTIGUOUS = check_spec(
    "offsets_contiguous",
    "orders_events",
    ERROR,
    "The offset ledger has no gap or overlap in any partition (non-blocking: no downstream "
    "asset, and the batch is committed when it runs).",
)
DLQ_RATE = check_spec(
    "dlq_rate",
    "orders_dlq",
    ERROR,
    "Fails when a batch's invalid share exceeds the threshold (non-blocking: no downstream "
    "asset, and the batch is committed when it runs).",
)
MICROBATCH_CHECKS = [REQUIRED_FIELDS, OFFSETS_CONTIGUOUS, DLQ_RATE]


def required_fields_result(batch: "SplitBatch") -> dg.AssetCheckResult:
    return check_result(
        REQUIRED_FIELDS,
        batch.dead_lettered == 0,
        {
            "dead_lettered": batch.dead_lettered,
            "by_reason": dg.MetadataValue.json(dict(sorted(batch.reasons.items()))),
            "sample_errors": dg.MetadataValue.text("\n".join(batch.samples) or "none"),
        },
    )


def dlq_rate_result(batch: "SplitBatch", threshold: float) -> dg.AssetCheckResult:
    rate = batch.dead_lettered / batch.read if batch.read else 0.0
    return check_result(
        DLQ_RATE,
        rate <= threshold,
        {"dlq_rate": rate, "threshold": threshold, "records_read": batch.read},
    )


def offsets_contiguous_result(ledger: list[tuple[int, int, int]]) -> dg.AssetCheckResult:
    problems = ledger_problems(ledger)
    return check_result(
        OFFSETS_CONTIGUOUS,
        not problems,
        {
            "ledger_ranges": len(ledger),
            "problems": dg.MetadataValue.text("\n".join(problems[:20]) or "none"),
        },
    )
