"""The stack file is removed only by the `bts up` that wrote it: a refused second `bts up` or `bts demo` on
the same state dir leaves the running stack findable."""

from __future__ import annotations

from pathlib import Path

from bts.stackfile import StackFile, forget_stack, read_stack, write_stack


def _stack(pid: int) -> StackFile:
    return StackFile(
        pid=pid,
        api_url="http://127.0.0.1:8000",
        database_url="postgresql://bts@127.0.0.1:5432/bts",
        kafka_bootstrap="127.0.0.1:9092",
        embedded_postgres=True,
        embedded_kafka=True,
        timescaledb=False,
        services=[],
    )


def test_only_the_writer_removes_the_stack_file(tmp_path: Path) -> None:
    write_stack(tmp_path, _stack(pid=1234))
    forget_stack(tmp_path, pid=5678)  # a second `bts up`, refused: the port was taken
    found = read_stack(tmp_path)
    assert found is not None
    assert found.pid == 1234
    forget_stack(tmp_path, pid=1234)  # the running stack stops
    assert read_stack(tmp_path) is None
    forget_stack(tmp_path, pid=1234)  # nothing left: nothing to do
