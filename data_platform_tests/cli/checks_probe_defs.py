"""Test-only code location: the platform's definitions plus a probe asset whose checks' outcomes
are chosen by run config, so the report's gate can be driven to each case on purpose."""

import dagster as dg

from data_platform.definitions import defs as platform_defs

PROBE_CHECKS = [
    dg.AssetCheckSpec("probe_error_check", asset="quality_probe"),
    dg.AssetCheckSpec("probe_warn_check", asset="quality_probe"),
]


class ProbeConfig(dg.Config):
    fail_error: bool = False
    fail_warn: bool = False
    crash: bool = False  # fail the step before any check is evaluated


@dg.asset(check_specs=PROBE_CHECKS)
def quality_probe(config: ProbeConfig) -> dg.MaterializeResult:
    """Emits one ERROR and one WARN check result as configured."""
    if config.crash:
        raise RuntimeError("quality_probe crashed on purpose")
    return dg.MaterializeResult(
        check_results=[
            dg.AssetCheckResult(
                check_name="probe_error_check",
                passed=not config.fail_error,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"failing_rows": dg.MetadataValue.int(3 if config.fail_error else 0)},
            ),
            dg.AssetCheckResult(
                check_name="probe_warn_check",
                passed=not config.fail_warn,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"failing_rows": dg.MetadataValue.int(7 if config.fail_warn else 0)},
            ),
        ]
    )


defs = dg.Definitions.merge(platform_defs, dg.Definitions(assets=[quality_probe]))
