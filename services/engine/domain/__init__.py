"""Pure engine logic: strategies, position sizing, commission, metrics. No database, no Kafka."""
