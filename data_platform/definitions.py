"""The one place the code location is assembled: each domain's definitions, plus resources."""

import dagster as dg

from data_platform.analysis import defs as analysis
from data_platform.dbt import defs as dbt
from data_platform.ingestion import defs as ingestion
from data_platform.resources import OrdersApiResource, WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource
from data_platform.streaming.microbatch import defs as microbatch
from data_platform.streaming.windows import defs as windows

defs = dg.Definitions.merge(
    ingestion.defs,
    dbt.defs,
    analysis.defs,
    windows.defs,
    microbatch.defs,
    dg.Definitions(
        # Every job's steps run in its run worker, one after another: they all sit in pool
        # `warehouse` (one slot), so a process per step only added ~4 s of start-up per step.
        executor=dg.in_process_executor,
        resources={
            "warehouse": WarehouseResource(),
            "orders_api": OrdersApiResource(),
            "kafka": KafkaResource(),
        },
    ),
)
