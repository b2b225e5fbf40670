"""Platform code every service runs on: settings, database, Kafka plumbing, the service runtime."""
