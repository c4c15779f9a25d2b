"""Scheduled syncs on as many machines as it takes: ``primsync worker`` runs a worker of
procrastinate, a maintained task queue that keeps its jobs in the team's PostgreSQL (no other
server), beside the CRM's tables.

Three tasks:

- ``primsync.defer_due`` (periodic, every ten seconds; procrastinate defers it once per tick
  whatever the number of workers): claims each due scheduled account (``db.schedules.claim``,
  one conditional UPDATE) and defers one ``primsync.sync_account`` job for it, with the
  account's address as queueing lock (never two of its jobs waiting);
- ``primsync.sync_account``: the account's review and import under its advisory lock (one
  transaction: a worker killed in the middle leaves nothing half-stored), its outcome recorded
  on its schedule;
- ``primsync.retry_stalled`` (periodic, every ten seconds): the jobs of a worker that stopped
  sending heartbeats for ``stalled_after`` seconds (killed, its machine gone) are put back in
  the queue, so another worker syncs the account.

>>> app = worker_app("postgresql+psycopg://primsync@db.internal/crm")     # doctest: +SKIP
>>> run_worker(app, concurrency=4)                                         # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, make_url, text

from primsync.db.engine import open_engine
from primsync.db.schedules import claim, due_schedules, schedule_of
from primsync.errors import ConfigurationError

if TYPE_CHECKING:
    import procrastinate

__all__ = ["STALLED_AFTER", "TICK", "install_queue", "run_worker", "worker_app"]

logger = logging.getLogger("primsync.worker")

STALLED_AFTER = 30.0  # seconds without a worker's heartbeat before its jobs are run again
TICK = "* * * * * */10"  # the periodic tasks' cron: every ten seconds (seconds come last)
_SCHEMA_LOCK = 0x70726D74  # an advisory lock key: one worker installs the queue's tables


def _conninfo(db_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (password included: it goes
    to psycopg, never to a log)."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            "`primsync worker` needs the team's PostgreSQL (its jobs live there): "
            f"this database is {url.get_backend_name()}; on one machine with SQLite, run "
            "`primsync sync --all` from cron or a systemd timer (docs/deploy.md)"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def install_queue(engine: Engine) -> bool:
    """Create procrastinate's tables in the database unless they are there; True if created.
    Two workers starting together: one installs, the other waits and finds them."""
    import procrastinate

    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        schema = procrastinate.schema.SchemaManager.get_schema()
        conn.exec_driver_sql(schema.replace("%", "%%"))
    logger.info("installed the job queue's tables (procrastinate) in the database")
    return True


def worker_app(
    db_url: str, *, engine: Engine | None = None, stalled_after: float = STALLED_AFTER
) -> procrastinate.App:
    """A procrastinate app on ``db_url``'s PostgreSQL with primsync's three tasks."""
    import procrastinate

    from primsync.sync import sync_scheduled

    engine = engine or open_engine(db_url)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo(db_url)))

    @app.task(name="primsync.sync_account")
    def sync_account_job(address: str) -> dict[str, Any]:
        schedule = schedule_of(engine, address)
        if schedule is None or not schedule.enabled:
            logger.info("account=%s status=skipped reason=no schedule switched on", address)
            return {"account": address, "skipped": "no schedule switched on"}
        outcome = sync_scheduled(engine, schedule, logger.info)
        return {
            "account": outcome.account,
            "new": outcome.new,
            "imported": outcome.imported,
            "skipped": outcome.skipped,
            "waited": outcome.waited,
            "error": outcome.error,
        }

    @app.periodic(cron=TICK, periodic_id="due")
    @app.task(name="primsync.defer_due", queueing_lock="primsync.defer_due")
    async def defer_due(timestamp: int) -> int:
        due = await asyncio.to_thread(due_schedules, engine)
        deferred = 0
        for schedule in due:
            if not await asyncio.to_thread(claim, engine, schedule):
                continue  # another run (a `sync --all`) has it
            try:
                await sync_account_job.configure(queueing_lock=schedule.address).defer_async(
                    address=schedule.address
                )
                deferred += 1
            except procrastinate.exceptions.AlreadyEnqueued:
                logger.info("account=%s already waiting in the queue", schedule.address)
        return deferred

    @app.periodic(cron=TICK, periodic_id="stalled")
    @app.task(name="primsync.retry_stalled", queueing_lock="primsync.retry_stalled")
    async def retry_stalled(timestamp: int) -> int:
        stalled = list(
            await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
        )
        for job in stalled:
            logger.warning("job %s (%s) lost its worker: queued again", job.id, job.task_name)
            await app.job_manager.retry_job(job)
        return len(stalled)

    return app


RESTART_AFTER = 5.0  # seconds before a worker that lost its database starts again


def run_worker(
    app: procrastinate.App,
    *,
    concurrency: int = 4,
    name: str | None = None,
    stalled_after: float = STALLED_AFTER,
) -> None:
    """Run a worker until SIGINT or SIGTERM (a job in progress is let finish). Its heartbeat
    goes every third of ``stalled_after``. A worker that loses the database (a restart, the
    network) stops its jobs' loop; it is started again after ``RESTART_AFTER`` seconds, until
    asked to stop."""
    if concurrency < 1:
        raise ConfigurationError(f"--concurrency {concurrency}: at least 1")
    asyncio.run(_supervise(app, concurrency, name, stalled_after))


async def _supervise(
    app: procrastinate.App, concurrency: int, name: str | None, stalled_after: float
) -> None:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(number, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt
            pass
    while not stop.is_set():
        try:
            async with app.open_async():
                run = asyncio.create_task(
                    app.run_worker_async(
                        concurrency=concurrency,
                        name=name or "worker",
                        update_heartbeat_interval=stalled_after / 3,
                        stalled_worker_timeout=stalled_after,
                        install_signal_handlers=False,
                    )
                )
                asked = asyncio.create_task(stop.wait())
                await asyncio.wait({run, asked}, return_when=asyncio.FIRST_COMPLETED)
                if not run.done():  # asked to stop: the jobs in progress finish first
                    run.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await run
                    return
                asked.cancel()
                run.result()  # a failure of the worker itself is raised here
        except procrastinate_errors() as exc:
            logger.warning("the job queue's database is out of reach (%s)", type(exc).__name__)
        if not stop.is_set():
            logger.warning("the worker stopped without being asked: starting again in %g s",
                           RESTART_AFTER)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESTART_AFTER)


def procrastinate_errors() -> tuple[type[BaseException], ...]:
    """What losing the database raises: procrastinate's connector error, psycopg's, an OS
    error (connection refused while the server restarts)."""
    import procrastinate
    import psycopg

    return (procrastinate.exceptions.ConnectorException, psycopg.OperationalError, OSError)
