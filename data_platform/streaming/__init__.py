"""Streaming: Kafka micro-batches (sensor + assets + DLQ) and Spark windowed aggregates."""
