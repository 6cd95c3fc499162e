"""The one place the code location is assembled: each domain's definitions, plus resources."""

import dagster as dg

from data_platform.ingestion import defs as ingestion
from data_platform.resources import OrdersApiResource, WarehouseResource
from data_platform.streaming.kafka_resource import KafkaResource

defs = dg.Definitions.merge(
    ingestion.defs,
    dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "orders_api": OrdersApiResource(),
            "kafka": KafkaResource(),
        }
    ),
)
