"""How dbt nodes become Dagster assets: flat keys, one group per warehouse schema, an owner."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject

from data_platform.partitions import daily_partitions


def _flat_key(props: Mapping[str, Any]) -> dg.AssetKey:
    """`stg_orders`, not `staging/stg_orders`: dbt names are unique, as raw asset names are."""
    return dg.AssetKey(props["name"])


def _schema_group(props: Mapping[str, Any]) -> str:
    """The schema a node is built in (staging, marts, snapshots) is its Dagster group."""
    return props.get("config", {}).get("schema") or "dbt"


# Models without `meta.dagster.owners` of their own belong to the analytics engineers.
DEFAULT_OWNERS = ["team:analytics"]


def _yaml_description(props: Mapping[str, Any]) -> str:
    """The catalog shows what the model's YAML says it is, never its raw SQL (dagster-dbt's
    default appends the SQL, which buries the one line a reader came for)."""
    return props.get("description") or f"dbt {props['resource_type']} `{props['name']}`"


class DataPlatformDbtTranslator(DagsterDbtTranslator):
    """Sources keep the asset key of their `meta.dagster.asset_key` (the raw assets);
    incremental models are daily-partitioned, everything else is not."""

    def get_partitions_def(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.PartitionsDefinition | None:
        materialized = dbt_resource_props.get("config", {}).get("materialized")
        return daily_partitions if materialized == "incremental" else None

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec
        return spec.replace_attributes(
            key=_flat_key(props),
            group_name=_schema_group(props),
            owners=list(spec.owners) or DEFAULT_OWNERS,
            description=_yaml_description(props),
        )
