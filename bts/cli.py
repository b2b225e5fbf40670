"""`bts`: the command line of the platform.

It answers at once: the client commands import no service and no heavy library (pandas, plotly,
NautilusTrader) at start, only inside the command that needs one (tests/unit/test_cli_imports.py)."""

from __future__ import annotations

import sys

import typer

from bts import (
    backtest_cmd,
    data_cmd,
    ingest_cmd,
    instrument_cmd,
    key_cmd,
    ops_cmd,
    research_cmd,
    strategy_cmd,
    sweep_cmd,
)
from bts.console import CliError, err, out

app = typer.Typer(
    name="bts",
    help="Backtesting platform on NautilusTrader: run the stack, load data, run and inspect backtests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
user_app = typer.Typer(help="Users and API keys.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(key_cmd.app, name="key")
app.add_typer(instrument_cmd.app, name="instrument")
app.add_typer(ingest_cmd.app, name="ingest")
app.add_typer(data_cmd.app, name="data")
app.add_typer(strategy_cmd.app, name="strategy")
app.add_typer(backtest_cmd.app, name="backtest")
backtest_cmd.app.command("manifest")(research_cmd.manifest)
backtest_cmd.app.command("reproduce")(research_cmd.reproduce)
backtest_cmd.app.command("compare")(research_cmd.compare)
strategy_cmd.app.command("types")(research_cmd.strategy_types)
app.add_typer(sweep_cmd.app, name="sweep")
app.add_typer(ops_cmd.app, name="ops")


@user_app.command("create")
def user_create(
    name: str = typer.Argument(..., help="user name, unique"),
    as_json: bool = typer.Option(False, "--json", help='print {"user_id": ..., "api_key": ...}'),
    admin: bool = typer.Option(False, "--admin", help="an operator: may also call `bts ops` (lag, dead letters)"),
) -> None:
    """Create a user and print a new API key (shown once; only its hash is stored)."""
    import asyncio
    import json

    import asyncpg

    from bts.database import service_database_url
    from shared.platform.accounts import UserExistsError, create_user
    from shared.platform.settings import Settings

    url = service_database_url(Settings(), "api")

    async def create() -> tuple[str, str]:
        try:
            conn = await asyncpg.connect(url, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            raise CliError(f"cannot reach the database ({exc}); is `bts up` running?") from exc
        try:
            created = await create_user(conn, name, admin)
        except (UserExistsError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        finally:
            await conn.close()
        return str(created.user_id), created.api_key

    user_id, api_key = asyncio.run(create())
    if as_json:
        print(json.dumps({"user_id": user_id, "api_key": api_key, "is_admin": admin}))
    else:
        out.print(f"{'admin' if admin else 'user'} [bold]{name}[/] created ({user_id})")
        out.print(f"API key (shown once): [bold]{api_key}[/]")
        out.print(f"use it as: export BTS_API_KEY={api_key}")


@app.command()
def up() -> None:
    """Start the whole stack (embedded PostgreSQL and Kafka where no URL is set); Ctrl-C stops it."""
    from bts.up import Stack, StartupError, console_url, run_until_signalled
    from shared.platform.settings import Settings

    settings = Settings()

    def ready(stack: Stack) -> None:
        out.print(f"[bold green]gateway[/] {settings.api_url}  (OpenAPI: {settings.api_url}/docs)")
        out.print(f"web console: {console_url(settings.api_url)}")
        out.print(f"demo API key: {stack.demo_key}  (admin; export BTS_API_KEY=... for the bts commands)")
        out.print("Press Ctrl-C to stop.")

    try:
        # one line per message, as is (a log path is not wrapped, a log's tail is not read as markup)
        code = run_until_signalled(settings, lambda line: out.print(line, soft_wrap=True, markup=False), ready)
    except StartupError as exc:
        raise CliError(str(exc)) from exc
    raise typer.Exit(code)


@app.command()
def demo() -> None:
    """Start the stack, load sample data, run the three strategies, print metrics and report paths, stop."""
    from bts.demo import run_demo
    from bts.up import StartupError
    from shared.platform.settings import Settings

    try:
        run_demo(Settings())
    except StartupError as exc:
        raise CliError(str(exc)) from exc


@app.command()
def migrate() -> None:
    """Create roles and schemas, run every service's migrations and apply the read-only grants."""
    from bts.migrations import migrate_all
    from shared.platform.settings import Settings

    settings = Settings()
    if not settings.database_url:
        raise CliError("BTS_DATABASE_URL is not set: give an admin URL of the database to migrate")
    timescaledb = migrate_all(settings.database_url, settings.db_role_password)
    out.print(f"migrated ({'TimescaleDB hypertables' if timescaledb else 'native partitions'})")


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic with its partitions and its dead-letter twin."""
    import asyncio

    from shared.platform.kafka.admin import ensure_topics
    from shared.platform.settings import Settings

    settings = Settings()
    if not settings.kafka_bootstrap:
        raise CliError("BTS_KAFKA_BOOTSTRAP is not set: give the Kafka bootstrap servers")
    asyncio.run(ensure_topics(settings.kafka_bootstrap))
    out.print("topics ready")


def main() -> None:
    """Console-script entry: expected failures print one line and exit non-zero, never a traceback."""
    try:
        code = app(standalone_mode=False)  # without standalone mode, click returns typer.Exit's code
    except CliError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(exc.code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: say what failed, not how
        if callable(getattr(exc, "show", None)):  # click's usage errors (typer vendors its own click)
            exc.show()  # type: ignore[attr-defined]
            sys.exit(int(getattr(exc, "exit_code", 2)))
        err.print(f"[red]error:[/] {type(exc).__name__}: {exc}")
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
