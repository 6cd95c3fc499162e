"""Asset check specs that state their severity up front.

Dagster records severity only on a check's results, so before a run (and in the Checks tab's
description) a reader cannot tell an ERROR check from a WARN one; these specs say it in the
description and the spec's metadata. `blocking` is for ERROR checks whose failure must stop
downstream assets: Dagster then fails the step after recording the materialization and the
check, and skips what depends on it.
"""

from typing import Any

import dagster as dg

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


def check_spec(
    name: str,
    asset: str,
    severity: dg.AssetCheckSeverity,
    description: str,
    *,
    blocking: bool = False,
) -> dg.AssetCheckSpec:
    """A spec whose description starts with its severity (and `blocking`, when it blocks)."""
    if blocking and severity != ERROR:
        raise ValueError(f"{name}: only ERROR results block downstream assets in Dagster")
    label = f"{severity.value}, blocking" if blocking else severity.value
    return dg.AssetCheckSpec(
        name,
        asset=asset,
        description=f"[{label}] {description}",
        blocking=blocking,
        metadata={"severity": severity.value, "blocking": blocking},
    )


def severity_of(spec: dg.AssetCheckSpec) -> dg.AssetCheckSeverity:
    """The severity a spec made by `check_spec` declares (its results must use it)."""
    return dg.AssetCheckSeverity(spec.metadata["severity"])


def check_result(
    spec: dg.AssetCheckSpec, passed: bool, metadata: dict[str, Any]
) -> dg.AssetCheckResult:
    """A result for `spec` with the severity the spec declares, so the two cannot disagree."""
    return dg.AssetCheckResult(
        check_name=spec.name,
        asset_key=spec.asset_key,
        passed=passed,
        severity=severity_of(spec),
        metadata=metadata,
    )
