"""The `paritrana` command line."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import click

from shared import garbage_collection
from shared.settings import ALL_SERVICES, SERVICES, get_settings
from shared.vocabulary import KEY_KINDS


@click.group()
def main() -> None:
    """Paritrana: BPJS Ketenagakerjaan premium assistance for vulnerable workers, run by regions."""
    garbage_collection.tune()


@main.command()
def up() -> None:
    """Start the broker, the topics, the three services and the office in the foreground (what `make run` does)."""
    from paritrana.stack import up as run_stack

    sys.exit(run_stack(get_settings()))


@main.command()
@click.argument("service", type=click.Choice(ALL_SERVICES))
def serve(service: str) -> None:
    """Run one service's API, consumers and workers (the container image's command)."""
    from shared.service import serve as serve_app

    settings = get_settings()
    importlib.import_module(f"services.{service}.app")
    garbage_collection.freeze_loaded()  # the service's modules, schemas and tables, loaded for good
    serve_app(f"services.{service}.app:create_app", settings.host, settings.port(service), settings.access_log)


@main.command()
@click.argument("target", type=click.Choice([*ALL_SERVICES, "access", "all"]))
def migrate(target: str) -> None:
    """Apply a database's Alembic migrations (a service's, the access store's, or all)."""
    from shared.access import AccessStore
    from shared.database import Database

    settings = get_settings()

    async def run() -> None:
        for name in ([*ALL_SERVICES, "access"] if target == "all" else [target]):
            if name == "access":
                database = AccessStore.from_url(settings.database_url("access")).database
            else:
                module = importlib.import_module(f"services.{name}.app")
                database = Database(settings.database_url(name), migrations=module.MIGRATIONS,
                                    version_table=f"alembic_version_{name}")
            try:
                await database.migrate()
                click.echo(f"{name}: migrated")
            finally:
                await database.dispose()

    asyncio.run(run())


@main.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("create")
def topics_create() -> None:
    """Create every missing topic with its partitions and configuration."""
    from shared.kafka import ensure_topics

    created = asyncio.run(ensure_topics(get_settings()))
    click.echo("created: " + (", ".join(created) or "nothing, all topics exist"))


@main.group()
def keys() -> None:
    """API keys: one per partner app or field-kit device."""


@keys.command("create")
@click.option("--name", required=True, help="Who holds it, e.g. 'SIDESA Kab. Serang' or 'kit-0042'.")
@click.option("--kind", type=click.Choice(KEY_KINDS), required=True)
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["registrations:write", "registrations:read", "admin"]))
@click.option("--region", "regions", multiple=True, required=True,
              help="PP (a province), PP.KK (a regency/city) or * (national). Repeat for several.")
@click.option("--rate-limit", type=float, default=None,
              help="Requests per second for this key, with a burst of two seconds of it "
                   "(default: PARITRANA_RATE_LIMIT_PER_SECOND and _BURST).")
@click.option("--kit-url", envvar="PARITRANA_KIT_URL", default=None,
              help="The field kit's address as the phones reach it (default: the enrolment service's /kit/).")
def keys_create(name: str, kind: str, scopes: tuple[str, ...], regions: tuple[str, ...],
                rate_limit: float | None, kit_url: str | None) -> None:
    """Issue a key. Its secret is printed once and never stored; a field-kit key also gets its pairing link and
    QR code."""
    store = _access_store()
    try:
        issued = asyncio.run(_with_migrated(store, store.create(name, kind, list(scopes), list(regions), rate_limit)))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"key id: {issued.key_id}")
    click.echo(f"secret (shown once): {issued.secret}")
    if kind == "field_kit":
        from paritrana.pairing import pairing_link, terminal_qr

        link = pairing_link(kit_url or get_settings().base_url("enrolment") + "/kit/", issued.secret)
        click.echo(f"pairing link (open it on the phone, or scan the code): {link}")
        click.echo(terminal_qr(link), nl=False)


@keys.command("list")
def keys_list() -> None:
    """Every key, without secrets."""
    store = _access_store()
    for key in asyncio.run(_with_migrated(store, store.list())):
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        click.echo(f"{key.key_id}  {key.kind:<11} {','.join(key.scopes):<40} {','.join(key.regions):<20} "
                   f"{state:<24} {key.name}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key; every service refuses it from the next request on."""
    store = _access_store()
    if not asyncio.run(_with_migrated(store, store.revoke(key_id))):
        raise click.ClickException(f"no active key {key_id}")
    click.echo(f"revoked {key_id}")


def _access_store():
    from shared.access import AccessStore

    return AccessStore.from_url(get_settings().database_url("access"))


async def _with_migrated(store, coro):
    try:
        await store.database.migrate()
        return await coro
    finally:
        await store.database.dispose()


@main.group()
def contracts() -> None:
    """Event contracts: JSON Schemas and the AsyncAPI document."""


@contracts.command("export")
def contracts_export() -> None:
    """Write docs/schemas/*.json and docs/asyncapi.yaml from shared/events.py and shared/topics.py."""
    from shared.contracts import write_contracts

    for path in write_contracts():
        click.echo(f"wrote {path}")


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--region", help="Regency/city code PP.KK for rows without a region column.")
@click.option("--category", help="Category for rows without a category column (code, name or alias).")
@click.option("--months", type=click.IntRange(1, 12), help="Months covered (default: the rest of the fiscal year).")
@click.option("--start-month", help="First covered month, YYYY-MM (default: this month).")
@click.option("--map", "mappings", multiple=True, metavar="HEADER=FIELD",
              help="Map another header to a field: nik, full_name, phone, category, category_description, "
                   "district, village, regency_code.")
@click.option("--dry-run", is_flag=True, help="Validate and write the error report; send nothing.")
@click.option("--url", envvar="PARITRANA_ENROLMENT_URL", default=None, help="Enrolment API base URL.")
@click.option("--key", envvar="PARITRANA_API_KEY", default=None, help="API key (or PARITRANA_API_KEY).")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=500)
def import_file(file: Path, region: str | None, category: str | None, months: int | None, start_month: str | None,
                mappings: tuple[str, ...], dry_run: bool, url: str | None, key: str | None, batch_size: int) -> None:
    """Register the workers listed in a CSV or XLSX file.

    The header row may sit below title rows; bad rows go to FILE.errors.csv|xlsx with the sheet's row numbers.

    \b
    Exit status:
      0  every row was accepted or was already registered (--dry-run: every row is valid)
      1  the import could not run (unreadable file, no header row, no API key, service unreachable)
      2  wrong options
      3  some rows were invalid or in conflict (see the error report); the others were imported
      4  nothing was imported: every row was invalid or in conflict, or there were no rows
    """
    import logging

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from paritrana.bulk_import import ImportOptions, RateColumn, count_decisions, exit_status, read_file, run_import
    from paritrana.client import Client
    from services.enrolment.domain import IntakeRules
    from shared.clock import Clock
    from shared.observability import MaskedJsonFormatter

    settings = get_settings()
    overrides = {}
    for mapping in mappings:
        header, _, target = mapping.partition("=")
        if not target:
            raise click.BadParameter(f"{mapping!r} is not HEADER=FIELD", param_hint="--map")
        overrides[header] = target
    try:
        source = read_file(file, overrides)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    log = logging.getLogger("paritrana.import")
    handler = logging.FileHandler(file.with_name(f"{file.stem}.import.log"), encoding="utf-8")
    handler.setFormatter(MaskedJsonFormatter("import", as_json=False))  # the log never holds a readable NIK
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    options = ImportOptions(region=region, category=category, months=months, start_month=start_month)
    client = None
    if not dry_run:
        if not key:
            raise click.ClickException("an API key is needed: --key or PARITRANA_API_KEY (or use --dry-run)")
        client = Client(key, enrolment_url=url or settings.base_url("enrolment"))
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               RateColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=False) as progress:
        summary = run_import(source, options, rules=IntakeRules.from_settings(settings), now=Clock(
            settings.clock_start).now(), client=client, batch_size=batch_size, progress=progress, log=log)
    if client is not None and summary.sent_ids:
        count_decisions(client, summary, region)
        client.close()
    click.echo(f"rows {summary.rows}: accepted {summary.accepted}, duplicates {summary.duplicates}, "
               f"conflicts {summary.conflicts}, invalid {summary.invalid}")
    if summary.funded is not None:
        click.echo(f"funded {summary.funded}, denied {summary.denied}, awaiting a decision {summary.pending}")
    if summary.report:
        click.echo(f"error report: {summary.report}")
    sys.exit(exit_status(summary))


@main.command()
@click.option("--seed", type=int, default=2024, show_default=True, help="Same seed, same synthetic people.")
@click.option("--rate", type=float, default=20.0, show_default=True, help="Registrations per second.")
@click.option("--duration", type=float, default=None, help="Seconds to run (default: until Ctrl-C).")
@click.option("--key", envvar="PARITRANA_API_KEY", default=None, help="Admin key (default: var/admin.key).")
def demo(seed: int, rate: float, duration: float | None, key: str | None) -> None:
    """Seed the places in the news articles and stream synthetic registrations into a running dev stack."""
    import signal

    from paritrana.client import AsyncClient
    from paritrana.demo import Demo

    settings = get_settings()
    key_file = settings.data_dir / "admin.key"
    if key is None and not key_file.exists():
        raise click.ClickException(f"no admin key: start the stack with `make run` first (it writes {key_file})")
    key = key or key_file.read_text().strip()
    urls = {name: settings.base_url(name) for name in SERVICES}

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with AsyncClient(key, enrolment_url=urls["enrolment"], subsidy_url=urls["subsidy"],
                               award_url=urls["award"]) as client:
            scenario = Demo(client, seed=seed, rate=rate)
            await scenario.seed(urls, key)
            click.echo(f"Open {urls['award']}/ and watch Banten, Kota Bekasi and Kota Palangka Raya fill up. "
                       "Ctrl-C stops the traffic.")
            await scenario.run(duration, stop)

    try:
        asyncio.run(run())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("demo stopped")


@main.command()
@click.option("--scenario", "scenario_names", multiple=True,
              type=click.Choice(["kits", "singles", "peer", "mixed", "all"]), default=("all",), show_default=True,
              help="Which scenarios to run (repeat for several). peer: singles to a plain FastAPI + SQLite service.")
@click.option("--db", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True)
@click.option("--registrations", type=click.IntRange(1), default=None, help="Field-kit scenario size [100000].")
@click.option("--kits", type=click.IntRange(1), default=None, help="Concurrent field kits, batches of 500 [4].")
@click.option("--singles", type=click.IntRange(1), default=None, help="Partner-app scenario size [5000].")
@click.option("--clients", type=click.IntRange(1), default=None, help="Concurrent partner-app clients [32].")
@click.option("--rate", type=float, default=None,
              help="Mixed scenario's offered registrations per second [half the end-to-end rate its mix sustains: "
                   "the singles' rate measured before it, else the kits', else 1000].")
@click.option("--mixed-seconds", type=float, default=None, help="Mixed scenario's duration [30].")
@click.option("--drain-timeout", type=float, default=None,
              help="Seconds each scenario waits for the pipeline to catch up after its intake [300]; raise it for "
                   "runs of a million.")
@click.option("--idle-seconds", type=click.FloatRange(0), default=None,
              help="Each process's CPU measured while the stack idles this long after the scenarios [30]; 0 skips.")
@click.option("--use-running-stack", is_flag=True, help="Measure the stack the PARITRANA_* settings describe.")
@click.option("--postgres-url", default=None, help="Server for --db postgresql (databases are created and dropped).")
@click.option("--smoke", is_flag=True, help="A small, fast run of everything (CI).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Results JSON (default: bench/results/<time>-<db>.json).")
def bench(scenario_names: tuple[str, ...], db: str, registrations: int | None, kits: int | None,
          singles: int | None, clients: int | None, rate: float | None, mixed_seconds: float | None,
          drain_timeout: float | None, idle_seconds: float | None, use_running_stack: bool, postgres_url: str | None,
          smoke: bool, output: Path | None) -> None:
    """A national enrolment wave, end to end, against the machine's raw limits (docs/benchmark.md)."""
    from paritrana.bench import report
    from paritrana.bench.run import SCENARIOS, BenchConfig, run

    given = {"registrations": registrations, "kits": kits, "singles": singles, "clients": clients, "rate": rate,
             "mixed_seconds": mixed_seconds, "drain_timeout": drain_timeout, "idle_seconds": idle_seconds,
             "postgres_url": postgres_url}
    overrides = {k: v for k, v in given.items() if v is not None} | {
        "db": db, "use_running_stack": use_running_stack,
        "scenarios": SCENARIOS if "all" in scenario_names else tuple(dict.fromkeys(scenario_names))}
    config = BenchConfig.smoke_run(**overrides) if smoke else BenchConfig(**overrides)
    result = asyncio.run(run(config, say=lambda line: click.echo(line, err=True)))
    report.table(result)
    click.echo(f"results: {report.write(result, output)}")
    sys.exit(0 if result["consistency"]["holds"] else 1)


@main.command()
def check() -> None:
    """Check the system's promises on the three databases (run it when the stack is quiet)."""
    from paritrana.invariants import check as check_invariants

    report = asyncio.run(check_invariants(get_settings()))
    for line in report.lines():
        click.echo(line)
    sys.exit(0 if report.holds else 1)


# Each service adds its own operators' commands (e.g. `paritrana enrolment republish`; the office's are
# `paritrana staff ...`).
for _service in ALL_SERVICES:
    _module = importlib.import_module(f"services.{_service}.cli")
    main.add_command(_module.commands, getattr(_module, "GROUP", _service))
