"""Kafka infrastructure shared by the micro-batch, the Spark source and the CLI.

One client per role: the data path (range reads, the sensor's probe, dead-letter publishing,
consumer-group commits) runs on librdkafka through confluent-kafka (`client`); topic
administration stays on kafka-python (`admin`), as does the demo/CLI event producer
(`producer`).
"""
