"""The late-record check, evaluated from the run's own measurement (see `runner.RunSummary`)."""

from typing import TYPE_CHECKING

import dagster as dg

from data_platform.check_specs import WARN, check_result, check_spec

if TYPE_CHECKING:  # the runner imports pyspark: only the step needs it
    from data_platform.streaming.windows.runner import RunSummary

LATE_SHARE_CHECK = "late_record_share"
LATE_SHARE_CHECK_SPEC = check_spec(
    LATE_SHARE_CHECK,
    "order_window_aggregates",
    WARN,
    "Fails when too many events arrive behind the 10-minute watermark (dropped).",
)


def late_share_result(summary: "RunSummary", threshold: float) -> dg.AssetCheckResult:
    """WARN (not error): late events are expected now and then; a high share means producers
    lag or the watermark delay is too tight for this topic."""
    return check_result(
        LATE_SHARE_CHECK_SPEC,
        summary.late_share <= threshold,
        {
            "late_records": summary.late_records,
            "valid_events": summary.valid_events,
            "late_share": dg.MetadataValue.float(round(summary.late_share, 6)),
            "threshold": dg.MetadataValue.float(threshold),
        },
    )
