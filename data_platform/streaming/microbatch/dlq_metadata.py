"""The `orders_dlq` materialization's view of the table: what the UI shows about the DLQ."""

from typing import Any

import dagster as dg

from data_platform.streaming.microbatch.dlq_contents import DlqContents

PREVIEW_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("topic", "string"),
        dg.TableColumn("partition", "int"),
        dg.TableColumn("offset", "int"),
        dg.TableColumn("reason", "string", description="error_code"),
        dg.TableColumn("message", "string", description="error_message"),
        dg.TableColumn("payload", "string", description="payload text, cut"),
    ]
)


def column_schema(contents: DlqContents) -> dg.TableSchema:
    """The table's real columns (read from DuckDB, so the UI never shows a stale copy)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                c.data_type,
                description=c.description or None,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in contents.columns
        ]
    )


def latest_table(contents: DlqContents) -> dg.TableMetadataValue:
    records = [
        dg.TableRecord(
            {
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "reason": r.error_code,
                "message": r.error_message,
                "payload": r.payload,
            }
        )
        for r in contents.latest
    ]
    return dg.MetadataValue.table(records=records, schema=PREVIEW_SCHEMA)


def dlq_metadata(contents: DlqContents) -> dict[str, Any]:
    """Whole-table figures under Dagster's standard keys, beside the batch's own counters."""
    return {
        "dagster/row_count": contents.total,
        "dagster/column_schema": column_schema(contents),
        "rows_by_reason": dg.MetadataValue.json(contents.by_reason),
        "latest_dead_letters": latest_table(contents),
    }
