"""Kafka micro-batches: a sensor plans offset ranges, one step loads events and dead letters."""
