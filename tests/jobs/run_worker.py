"""A job worker in a process of its own, for the crash tests: `python -m tests.jobs.run_worker SETTINGS.json`."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

from disclosure import create_app
from disclosure.jobs import worker
from tests.jobs import tasks  # noqa: F401  (registers the test tasks)

if __name__ == "__main__":
    settings = json.loads(Path(sys.argv[1]).read_text())
    app = create_app(settings)
    with app.app_context():
        worker.work(
            f"crash-test:{sys.argv[2]}",
            poll=0.1,
            stall_after=timedelta(seconds=2),
            heartbeat_every=0.2,
            once=True,
            periodic=False,
        )
