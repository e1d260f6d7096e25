"""`flask jobs worker`: runs queued background jobs (bundles, verification, reconciliation) until stopped."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select

from disclosure.extensions import db
from disclosure.jobs import worker
from disclosure.jobs.models import Job

jobs_cli = AppGroup("jobs", help="Background jobs: the worker that runs them, and what is queued.")


@jobs_cli.command("worker")
@click.option("--once", is_flag=True, help="Run every job that is due now, then exit (for cron or a test).")
@click.option("--poll", type=click.FloatRange(0.1, 60), default=2.0, show_default=True, help="Seconds between looks.")
@click.option(
    "--stall-after",
    type=click.IntRange(10, 3600),
    default=120,
    show_default=True,
    help="Seconds without a heartbeat after which a running job's worker is taken for dead and the job queued again.",
)
def run_worker(once: bool, poll: float, stall_after: int) -> None:
    """Claim and run queued jobs one at a time. SIGTERM or Ctrl-C finishes the running job, then stops."""
    name = worker.worker_name()
    stop = worker.StopFlag()
    click.echo(f"job worker {name}: started")
    ran = worker.work(name, poll=poll, stall_after=timedelta(seconds=stall_after), once=once, should_stop=stop)
    click.echo(f"job worker {name}: stopped after {ran} job(s)")


@jobs_cli.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def list_jobs(limit: int) -> None:
    """The latest jobs: when asked for, state, progress and what they do."""
    for job in db.session.execute(select(Job).order_by(Job.id.desc()).limit(limit)).scalars():
        click.echo(f"{job.created_at:%Y-%m-%d %H:%M}  {job.status.label:<16} {job.progress:>3}%  {job.label}")
