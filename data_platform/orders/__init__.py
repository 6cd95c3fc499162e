"""The order domain model: the event contract shared by the producer and the loader."""
