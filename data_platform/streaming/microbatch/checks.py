"""Asset checks evaluated inside the micro-batch step (results land with each materialization)."""

import dagster as dg

from data_platform.streaming.microbatch.offsets import ledger_problems
from data_platform.streaming.microbatch.order_batch import SplitBatch

DEFAULT_DLQ_RATE_THRESHOLD = 0.05

MICROBATCH_CHECKS = [
    dg.AssetCheckSpec(
        "required_fields",
        asset="orders_events",
        description="Records routed to the DLQ per reason (WARN when any).",
    ),
    dg.AssetCheckSpec(
        "offsets_contiguous",
        asset="orders_events",
        description="The offset ledger has no gap or overlap in any partition.",
    ),
    dg.AssetCheckSpec(
        "dlq_rate",
        asset="orders_dlq",
        description="ERROR when a batch's invalid share exceeds the threshold.",
    ),
]


def required_fields_result(batch: SplitBatch) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name="required_fields",
        asset_key="orders_events",
        passed=batch.dead_lettered == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "dead_lettered": batch.dead_lettered,
            "by_reason": dg.MetadataValue.json(dict(sorted(batch.reasons.items()))),
            "sample_errors": dg.MetadataValue.text("\n".join(batch.samples) or "none"),
        },
    )


def dlq_rate_result(batch: SplitBatch, threshold: float) -> dg.AssetCheckResult:
    rate = batch.dead_lettered / batch.read if batch.read else 0.0
    return dg.AssetCheckResult(
        check_name="dlq_rate",
        asset_key="orders_dlq",
        passed=rate <= threshold,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"dlq_rate": rate, "threshold": threshold, "records_read": batch.read},
    )


def offsets_contiguous_result(ledger: list[tuple[int, int, int]]) -> dg.AssetCheckResult:
    problems = ledger_problems(ledger)
    return dg.AssetCheckResult(
        check_name="offsets_contiguous",
        asset_key="orders_events",
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "ledger_ranges": len(ledger),
            "problems": dg.MetadataValue.text("\n".join(problems[:20]) or "none"),
        },
    )
