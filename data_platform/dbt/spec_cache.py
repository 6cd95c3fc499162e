"""dbt asset definitions rebuilt from cached specs, so loading the code location skips dagster-dbt.

`@dbt_assets` imports dagster-dbt, which imports dbt-core's adapter, contract and graph modules
(about 1 s, more than `import dagster` itself), then walks the manifest through the translator:
every run worker, CLI call and code-server load paid for it, for definitions that change only
when the dbt project does. So each dbt assets definition is built once by dagster-dbt's own
`@dbt_assets` and its specs, check specs and op tags are stored beside the manifest, keyed by
the manifest's and the translator's contents and dagster-dbt's version. Loading rebuilds the
same `multi_asset` from them; a missing or stale entry is built by `@dbt_assets` again (and
stored). The step runs dbt through dagster-dbt as before (`runner.run_dbt`), importing it then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_shared.serdes import deserialize_value, serialize_value

from data_platform.dbt.project import DAGSTER_TARGET_PATH, DBT_PROJECT_DIR, MANIFEST_PATH
from data_platform.partitions import daily_partitions

LOG = logging.getLogger(__name__)
CACHE_DIR = DBT_PROJECT_DIR / DAGSTER_TARGET_PATH / "specs"
TRANSLATOR_SOURCE = Path(__file__).with_name("translator.py")
# Metadata dagster-dbt keeps as Python objects (the parsed manifest, the translator, the
# project): the step gets them from `runner` instead, so they are not cached.
# Partitions definitions are stored by name (Dagster does not serialize them).
KNOWN_PARTITIONS: dict[str, dg.PartitionsDefinition] = {"daily": daily_partitions}
OBJECT_METADATA = (
    "dagster_dbt/manifest",
    "dagster_dbt/dagster_dbt_translator",
    "dagster_dbt/project",
)


@dataclass(frozen=True)
class DbtSelection:
    """One dbt assets definition: what `@dbt_assets` is given besides the manifest (each spec's
    partitions come from the translator)."""

    name: str
    select: str = "fqn:*"
    exclude: str | None = None
    backfill_policy: dg.BackfillPolicy | None = None
    pool: str | None = None

    def fingerprint(self) -> str:
        """What the cached specs depend on: the manifest, the translator's code, this module's
        (the entry's format), dagster-dbt's version and this selection."""
        digest = hashlib.sha256()
        for part in (
            MANIFEST_PATH.read_bytes(),
            TRANSLATOR_SOURCE.read_bytes(),
            Path(__file__).read_bytes(),  # the entry's format
            package_metadata.version("dagster-dbt").encode(),
            repr((self.select, self.exclude, self.pool)).encode(),
        ):
            digest.update(hashlib.sha256(part).digest())
        return digest.hexdigest()


def cached_dbt_assets(
    selection: DbtSelection,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`@dbt_assets` for `selection`, from the cache when it matches the manifest."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        fingerprint = selection.fingerprint()
        entry = _read(selection.name, fingerprint)
        if entry is None:
            built = build_with_dagster_dbt(selection, fn)
            try:
                _write(selection.name, _entry(built, fingerprint))
            except UncacheableSpec as exc:
                LOG.warning("dbt definition %s is not cached: %s", selection.name, exc)
            return built
        return dg.multi_asset(
            name=selection.name,
            specs=[_asset_spec(s) for s in entry["specs"]],
            check_specs=[_check_spec(c) for c in entry["check_specs"]],
            can_subset=True,
            op_tags=entry["op_tags"],
            backfill_policy=selection.backfill_policy,
            pool=selection.pool,
            allow_arbitrary_check_specs=True,
        )(fn)

    return decorate


def build_with_dagster_dbt(selection: DbtSelection, fn: Callable[..., Any]) -> dg.AssetsDefinition:
    """The definition as dagster-dbt builds it (the source of truth the cache holds)."""
    from dagster_dbt import dbt_assets

    from data_platform.dbt.project import dbt_project
    from data_platform.dbt.translator import DataPlatformDbtTranslator

    return dbt_assets(
        manifest=MANIFEST_PATH,
        project=dbt_project(),
        select=selection.select,
        exclude=selection.exclude,
        name=selection.name,
        dagster_dbt_translator=DataPlatformDbtTranslator(),
        backfill_policy=selection.backfill_policy,
        pool=selection.pool,
    )(fn)


# --- the cache entry: plain JSON, metadata values in Dagster's own serialization -------------


def _metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: {"raw": v} if isinstance(v, str | int | float | bool) else {"serdes": serialize_value(v)}
        for k, v in values.items()
        if k not in OBJECT_METADATA
    }


def _metadata_back(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v["raw"] if "raw" in v else deserialize_value(v["serdes"]) for k, v in values.items()
    }


class UncacheableSpec(ValueError):
    """A spec holds something the cache does not store: the definition is built each load."""


def _refuse(what: str, value: Any) -> None:
    if value:
        raise UncacheableSpec(f"the dbt spec cache does not store {what} (found {value!r})")


def _partitions_name(partitions: dg.PartitionsDefinition | None) -> str | None:
    if partitions is None:
        return None
    for name, known in KNOWN_PARTITIONS.items():
        if partitions == known:
            return name
    raise UncacheableSpec(f"the dbt spec cache does not know the partitions {partitions}")


def _spec_entry(spec: dg.AssetSpec) -> dict[str, Any]:
    _refuse("automation conditions", spec.automation_condition)
    _refuse("freshness policies", spec.freshness_policy or spec.legacy_freshness_policy)
    for dep in spec.deps:
        _refuse("partition mappings on deps", dep.partition_mapping)
    return {
        "key": list(spec.key.path),
        "deps": [
            {"key": list(dep.asset_key.path), "metadata": _metadata(dep.metadata)}
            for dep in spec.deps
        ],
        "description": spec.description,
        "metadata": _metadata(spec.metadata),
        "skippable": spec.skippable,
        "group_name": spec.group_name,
        "code_version": spec.code_version,
        "owners": list(spec.owners),
        "tags": dict(spec.tags),
        "partitions": _partitions_name(spec.partitions_def),
    }


def _asset_spec(entry: Mapping[str, Any]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=dg.AssetKey(entry["key"]),
        deps=[
            dg.AssetDep(dg.AssetKey(dep["key"]), metadata=_metadata_back(dep["metadata"]))
            for dep in entry["deps"]
        ],
        description=entry["description"],
        metadata=_metadata_back(entry["metadata"]),
        skippable=entry["skippable"],
        group_name=entry["group_name"],
        code_version=entry["code_version"],
        owners=entry["owners"],
        tags=entry["tags"],
        partitions_def=KNOWN_PARTITIONS[entry["partitions"]] if entry["partitions"] else None,
    )


def _check_entry(spec: dg.AssetCheckSpec) -> dict[str, Any]:
    _refuse("automation conditions on checks", spec.automation_condition)
    _refuse(
        "partition mappings on check deps", [d for d in spec.additional_deps if d.partition_mapping]
    )
    return {
        "name": spec.name,
        "asset": list(spec.asset_key.path),
        "description": spec.description,
        "additional_deps": [list(dep.asset_key.path) for dep in spec.additional_deps],
        "blocking": spec.blocking,
        "metadata": _metadata(spec.metadata or {}),
    }


def _check_spec(entry: Mapping[str, Any]) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=entry["name"],
        asset=dg.AssetKey(entry["asset"]),
        description=entry["description"],
        additional_deps=[dg.AssetKey(dep) for dep in entry["additional_deps"]],
        blocking=entry["blocking"],
        metadata=_metadata_back(entry["metadata"]),
    )


def _entry(built: dg.AssetsDefinition, fingerprint: str) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "specs": [_spec_entry(spec) for spec in built.specs],
        "check_specs": [_check_entry(spec) for spec in built.check_specs],
        "op_tags": dict(built.op.tags),
    }


def _path(name: str) -> Path:
    return CACHE_DIR / f"{name}.json"


def _read(name: str, fingerprint: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(_path(name).read_text())
    except (OSError, ValueError):
        return None
    return entry if entry.get("fingerprint") == fingerprint else None


def _write(name: str, entry: dict[str, Any]) -> None:
    """Atomically (another process may be loading the definitions at the same time); a
    read-only project folder only means the next load builds the definition again."""
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=CACHE_DIR, suffix=".tmp", delete=False) as out:
            json.dump(entry, out)
        os.chmod(out.name, 0o644)  # readable by the image's run user, as the manifest is
        os.replace(out.name, _path(name))
    except OSError as exc:
        LOG.warning("dbt spec cache not written (%s): the next load builds it again", exc)


def prepare() -> None:
    """Parse the dbt project if stale, then load the dbt definitions, which stores a cache entry
    for each one missing or stale (`make manifest` and the image build run this)."""
    from data_platform.dbt.project import ensure_manifest

    ensure_manifest()
    import data_platform.dbt.assets  # noqa: F401 - its decorators write the entries


if __name__ == "__main__":
    prepare()
