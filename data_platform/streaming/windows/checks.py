"""The late-record check, evaluated from the run's own measurement (see `runner.RunSummary`)."""

import dagster as dg

from data_platform.streaming.windows.runner import RunSummary

LATE_SHARE_CHECK = "late_record_share"
LATE_SHARE_CHECK_SPEC = dg.AssetCheckSpec(
    LATE_SHARE_CHECK,
    asset="order_window_aggregates",
    description="Warns when too many events arrive behind the 10-minute watermark (dropped).",
)


def late_share_result(summary: RunSummary, threshold: float) -> dg.AssetCheckResult:
    """WARN (not error): late events are expected now and then; a high share means producers
    lag or the watermark delay is too tight for this topic."""
    return dg.AssetCheckResult(
        check_name=LATE_SHARE_CHECK,
        passed=summary.late_share <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "late_records": summary.late_records,
            "valid_events": summary.valid_events,
            "late_share": dg.MetadataValue.float(round(summary.late_share, 6)),
            "threshold": dg.MetadataValue.float(threshold),
        },
    )
