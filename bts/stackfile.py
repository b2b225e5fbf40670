"""`<state dir>/stack.json`: what a running `bts up` started, so other commands can find it."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from shared.platform.private_files import write_private


class ServiceProcess(BaseModel):
    name: str
    pid: int
    port: int
    url: str
    log: str


class StackFile(BaseModel):
    pid: int
    api_url: str
    database_url: str
    kafka_bootstrap: str
    embedded_postgres: bool
    embedded_kafka: bool
    timescaledb: bool
    services: list[ServiceProcess]


def stack_path(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def write_stack(state_dir: Path, stack: StackFile) -> None:
    path = stack_path(state_dir)
    write_private(path, stack.model_dump_json(indent=2))  # its admin database URL carries a password


def forget_stack(state_dir: Path, pid: int) -> None:
    """Remove the stack file if the `bts up` of process `pid` wrote it: a second `bts up` (or `bts demo`) on the
    same state dir that was refused must not hide the running stack from the other commands."""
    found = read_stack(state_dir)
    if found is not None and found.pid == pid:
        stack_path(state_dir).unlink(missing_ok=True)


def read_stack(state_dir: Path) -> StackFile | None:
    path = stack_path(state_dir)
    if not path.exists():
        return None
    return StackFile.model_validate(json.loads(path.read_text()))
