"""Pure ingest logic: CSV layouts, timestamp parsing, row validation, COPY encoding. No I/O."""
