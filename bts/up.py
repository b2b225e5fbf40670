"""`bts up`: the whole stack on this machine, embedded parts where no URL is set, until Ctrl-C / SIGTERM.

It supervises the services: one that exits is started again on the same port after a backoff (see
`bts.supervisor`), and the stack stops only when one crashes too often.

Every process it starts dies with it: on a signal it stops the services (SIGTERM, then SIGKILL after a grace
period), then the broker, then the database. The services are forked by its service launcher
(`bts/launcher.py`); every child gets PR_SET_PDEATHSIG (the services, the launcher's death), so even a
`kill -9` of `bts up` leaves no orphan.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bts.launcher import Launcher
from bts.migrations import MIGRATION_MODULES as MIGRATION_IMPORTS
from bts.migrations import migrated_template_name
from bts.stackfile import ServiceProcess, StackFile, forget_stack, write_stack
from bts.supervisor import CrashHistory, CrashPolicy
from shared.devstack.postgres import prepared_template
from shared.devstack.process import ChildProcess, port_open, start_logged, stop_process
from shared.devstack.stack import EmbeddedStack, Endpoints
from shared.platform.db.ownership import SERVICE_NAMES
from shared.platform.db.urls import redact, role_url
from shared.platform.runtime.gate import FROM_STDIN, GATE_VARIABLE, MIGRATED, at_lower_priority, preload
from shared.platform.settings import Settings

if TYPE_CHECKING:
    import httpx

Say = Callable[[str], None]

# Imported in the background while the broker starts (the services need not wait for them): topics, migrations,
# the demo key.
TOPIC_MODULES = ("shared.platform.kafka.admin",)
MIGRATION_MODULES = (*MIGRATION_IMPORTS, "bts.demo_key")
# Between two asks of a service that is not ready (one still starting holds the request until it serves).
READY_POLL_S = 0.05


class StartupError(RuntimeError):
    """The stack could not start; the message says what and where to look."""


@dataclass
class RunningService:
    name: str
    proc: ChildProcess  # forked by the launcher, or a process of its own (BTS_SERVICE_LAUNCHER=false)
    listener: socket.socket  # bound and listening here, served by the service (it inherits it)
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    settings: Settings
    say: Say
    embedded: EmbeddedStack = field(init=False)
    template_name: str = field(init=False)
    endpoints: Endpoints | None = None
    services: list[RunningService] = field(default_factory=list)
    timescaledb: bool = False
    demo_key: str = ""
    launcher: Launcher | None = None
    template_builder: subprocess.Popen[bytes] | None = None
    service_names: tuple[str, ...] = SERVICE_NAMES  # fault and load tests start a subset

    def __post_init__(self) -> None:
        # A new embedded database copies one whose schemas these migrations made, once there is one (made by
        # `_prepare_template` after a start that had none).
        self.template_name = migrated_template_name()
        self.embedded = EmbeddedStack(self.settings, template=prepared_template(self.template_name))

    @property
    def state_dir(self) -> Path:
        return self.embedded.state_dir

    def start(self, ready_timeout: float = 120.0) -> StackFile:
        started = time.monotonic()
        api_port = self.settings.api_port
        if port_open("127.0.0.1", api_port):
            raise StartupError(
                f"port {api_port} is taken (BTS_API_URL={self.settings.api_url}): is a stack already up? "
                "Stop it, or set BTS_API_URL to another port."
            )
        # The launcher imports what every service imports while the broker starts, then forks the services
        # (bts/launcher.py). Each imports its own code while the database starts, gets the database and broker's
        # addresses once both are up, then word that the schemas are migrated (shared/platform/runtime/gate.py).
        # The topics' admin client loads meanwhile here (the services wait for the topics), the migrations'
        # modules after it, giving way to the services' imports.
        if self.settings.service_launcher:
            self.launcher = Launcher(self.state_dir / "logs" / "launcher.log")
        preload(*TOPIC_MODULES)
        preload(*MIGRATION_MODULES, yielding=True)
        self.endpoints = self.embedded.start_broker()  # and where the database will be
        for name in self.service_names:
            self.services.append(self._spawn(name, self._listener(api_port if name == "api" else 0), gated=True))
        ep = self.endpoints
        from shared.platform.kafka.admin import ensure_topics

        self.say(f"database  {redact(ep.database_url)} ({'embedded' if ep.embedded_postgres else 'external'})")
        self.say(f"kafka     {ep.kafka_bootstrap} ({'embedded Tansu' if ep.embedded_kafka else 'external'})")
        asyncio.run(ensure_topics(ep.kafka_bootstrap))
        # The services' consumers join their groups (3 s on Tansu) while the database starts and is migrated.
        for svc in self.services:
            self._open_gate(svc)
        self.embedded.start_database()
        from bts.demo_key import kept_demo_key
        from bts.migrations import migrate_all

        # The migrations are done well before the joins: they give way to the services' start (lower priority).
        self.timescaledb = at_lower_priority(lambda: migrate_all(ep.database_url, self.settings.db_role_password))
        self.say(f"schemas   migrated ({'TimescaleDB hypertables' if self.timescaledb else 'native partitions'})")
        self.demo_key = kept_demo_key(self.state_dir, role_url(ep.database_url, "api", self.settings.db_role_password))
        for svc in self.services:
            self._gate_line(svc, MIGRATED, last=True)
        self._wait_ready(ready_timeout)
        stack = self._write_stack_file()
        self._prepare_template()
        self.say(f"ready in {time.monotonic() - started:.1f} s")
        return stack

    def _prepare_template(self) -> None:
        """Once ready, if this stack's new database was not a copy of a migrated one: make one for the next new
        state dir, in the background at the lowest CPU priority (bts/migrated_template.py)."""
        postgres = self.embedded.postgres
        if postgres is None or postgres.copied_prepared_template:
            return
        template = self.embedded.template
        if template is None or (template / "PG_VERSION").exists():
            return
        self.template_builder = start_logged(
            [sys.executable, "-m", "bts.migrated_template", self.template_name],
            self.state_dir / "logs" / "template.log",
        )

    def _write_stack_file(self) -> StackFile:
        assert self.endpoints is not None
        ep = self.endpoints
        stack = StackFile(
            pid=os.getpid(),
            api_url=self.settings.api_url,
            database_url=ep.database_url,
            kafka_bootstrap=ep.kafka_bootstrap,
            embedded_postgres=ep.embedded_postgres,
            embedded_kafka=ep.embedded_kafka,
            timescaledb=self.timescaledb,
            services=[
                ServiceProcess(name=s.name, pid=s.proc.pid, port=s.port, url=s.url, log=str(s.log_path))
                for s in self.services
            ],
        )
        write_stack(self.state_dir, stack)
        return stack

    def restart(self, name: str) -> RunningService:
        """Start the exited service `name` again on its port; stack.json shows the new pid."""
        index = next(i for i, s in enumerate(self.services) if s.name == name)
        old = self.services[index]
        self.services[index] = self._spawn(name, old.listener)
        self._write_stack_file()
        return self.services[index]

    def _endpoints_env(self, name: str) -> dict[str, str]:
        """What a service learns once the database and broker are up: where they are, and its database role."""
        assert self.endpoints is not None
        return {
            "BTS_DATABASE_URL": role_url(self.endpoints.database_url, name, self.settings.db_role_password),
            "BTS_KAFKA_BOOTSTRAP": self.endpoints.kafka_bootstrap,
        }

    def _open_gate(self, svc: RunningService) -> None:
        """Send a service started `gated` the rest of its environment; it goes on from its imports to start, and
        its other components wait for the line that says the schemas are migrated."""
        self._gate_line(svc, json.dumps(self._endpoints_env(svc.name)))

    def _gate_line(self, svc: RunningService, line: str, last: bool = False) -> None:
        assert svc.proc.stdin is not None
        try:
            svc.proc.stdin.write((line + "\n").encode())
            svc.proc.stdin.flush()
            if last:
                svc.proc.stdin.close()
        except BrokenPipeError:  # it exited already: _wait_ready says so, with its log
            pass

    def _listener(self, port: int) -> socket.socket:
        """A listening socket on `port` (0: one the OS picks) that a service inherits and serves on. Bound here,
        at once: a port picked free and bound by the service seconds later (after its imports) was sometimes
        taken meanwhile, and the service failed to start; a restarted service gets the same socket back."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.settings.bind_host, port))
        except OSError as exc:
            listener.close()
            raise StartupError(
                f"cannot listen on port {port}: {exc.strerror}; set BTS_API_URL to another port"
            ) from exc
        listener.listen(2048)
        listener.set_inheritable(True)
        return listener

    def _spawn(self, name: str, listener: socket.socket, gated: bool = False) -> RunningService:
        """Start service `name` serving on `listener`; `gated`: before the database and broker are up (see
        `_open_gate`)."""
        log_path = self.state_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "BTS_STATE_DIR": str(self.state_dir),
            "BTS_API_URL": self.settings.api_url,
            "BTS_SERVICE_PORT": str(listener.getsockname()[1]),
            "BTS_LISTEN_FD": str(listener.fileno()),
            **({GATE_VARIABLE: FROM_STDIN} if gated else self._endpoints_env(name)),
        }
        proc: ChildProcess
        if self.launcher is not None:
            proc = self.launcher.launch(f"services.{name}", env, log_path, listener.fileno(), piped_stdin=gated)
        else:
            proc = start_logged(
                [sys.executable, "-m", f"services.{name}"],
                log_path,
                env=env,
                stdin=subprocess.PIPE if gated else subprocess.DEVNULL,
                pass_fds=(listener.fileno(),),
            )
        return RunningService(name=name, proc=proc, listener=listener, log_path=log_path)

    def _wait_ready(self, timeout: float) -> None:
        """Until every service answers /ready, each asked on its own: a service still starting holds its request
        until it serves, and its /ready then runs its checks (a database query, a broker connection), so asking
        them one after the other added those waits up."""
        try:
            asyncio.run(self._all_ready(time.monotonic() + timeout, timeout))
        except ExceptionGroup as failed:  # the first service that failed to start says why; the others were stopped
            raise failed.exceptions[0] from None

    async def _all_ready(self, deadline: float, allowed_s: float) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=2.0) as client, asyncio.TaskGroup() as group:
            for svc in self.services:
                group.create_task(self._ready(client, svc, deadline, allowed_s))

    async def _ready(self, client: httpx.AsyncClient, svc: RunningService, deadline: float, allowed_s: float) -> None:
        import httpx

        while True:
            if svc.proc.poll() is not None:
                raise StartupError(
                    f"service {svc.name} exited with code {svc.proc.returncode} while starting; "
                    f"its log ({svc.log_path}) ends with:\n{_tail(svc.log_path)}"
                )
            try:
                if (await client.get(svc.url + "/ready")).status_code == 200:
                    self.say(f"service   {svc.name:<10} {svc.url}  ready")
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StartupError(f"not ready within {allowed_s:.0f} s: {svc.name}; see {self.state_dir}/logs")
            await asyncio.sleep(READY_POLL_S)

    def exited(self) -> list[RunningService]:
        return [s for s in self.services if s.proc.poll() is not None]

    def stop(self) -> None:
        # Signal all first so they shut down in parallel, then wait for each.
        for svc in self.services:
            if svc.proc.poll() is None:
                svc.proc.send_signal(signal.SIGTERM)
        for svc in self.services:
            stop_process(svc.proc, signal.SIGTERM, timeout=15)
            svc.listener.close()
        self.services.clear()
        if self.template_builder is not None:
            stop_process(self.template_builder, signal.SIGTERM, timeout=15)
        if self.launcher is not None:
            self.launcher.stop()
        self.embedded.stop()
        forget_stack(self.state_dir, os.getpid())


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _note_in_log(svc: RunningService, line: str) -> None:
    """A line of the supervisor's in the service's own log, where its operator looks first."""
    with svc.log_path.open("a") as log:
        log.write(f"[bts up] {line}\n")


CONSOLE_PATH = "/ui"  # the gateway's web console (docs/console.md)


def console_url(api_url: str) -> str:
    """Where the web console of the gateway at `api_url` is: sign in there with an API key."""
    return api_url.rstrip("/") + CONSOLE_PATH


def run_until_signalled(settings: Settings, say: Say, on_ready: Callable[[Stack], None]) -> int:
    """Start the stack and supervise it until SIGINT/SIGTERM, or until a service crashes too often (exit
    code 1); then stop everything. A crashed service is restarted on its port after a backoff."""
    received: list[int] = []

    def handle(signum: int, _frame: object) -> None:
        # Only a list append: a handler that takes a lock (Event.set) deadlocks when a second
        # signal lands while the first handler holds it.
        received.append(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(settings, say)
    code = 0
    try:
        stack.start()
        on_ready(stack)
        code = _supervise(stack, CrashHistory(CrashPolicy.of(settings)), received, say)
    finally:
        say("stopping ...")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("stopped")
    return code


def _supervise(stack: Stack, history: CrashHistory, received: list[int], say: Say) -> int:
    """Restart exited services until a signal arrives (0) or one crashes too often (1)."""
    due: dict[str, float] = {}  # service -> when to start it again
    while not received:
        time.sleep(0.25)
        now = time.monotonic()
        for dead in stack.exited():
            if dead.name in due:
                continue
            verdict = history.record(dead.name, now)
            window = history.policy.window_s
            if verdict.restart_in_s is None:
                line = (
                    f"service {dead.name} crashed {verdict.crashes} times within {window:.0f} s (last exit code "
                    f"{dead.proc.returncode}); stopping the stack. Its log: {dead.log_path}"
                )
                _note_in_log(dead, line)
                say(line)
                say(_tail(dead.log_path))
                return 1
            line = (
                f"service {dead.name} exited with code {dead.proc.returncode}; restarting it in "
                f"{verdict.restart_in_s:.1f} s (crash {verdict.crashes} within {window:.0f} s; log: {dead.log_path})"
            )
            _note_in_log(dead, line)
            say(line)
            due[dead.name] = now + verdict.restart_in_s
        for name, at in list(due.items()):
            if now >= at:
                del due[name]
                svc = stack.restart(name)
                _note_in_log(svc, f"restarted as pid {svc.proc.pid} on port {svc.port}")
    return 0
