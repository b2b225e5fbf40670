"""Pure reporting logic: the data of a report, its charts and its files' content. No I/O but rendering."""
