"""Contracts between the services: topics, event envelopes and payloads, the data model's entities."""
