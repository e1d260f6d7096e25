"""A child process for the reconciliation tests: the real app runs a real `flask` command and is SIGKILLed at a
chosen moment, which it signals by creating the READY file and then waiting to be killed.

python -m tests.storage.crash_app SETTINGS.json READY MOMENT -- production add REF FILE --target … --as …

MOMENT is one of
  after-blob      an encrypted blob is complete under its name, its row not yet committed
  mid-bundle      a bundle's .partial holds its first encrypted payload file
  after-rename    a bundle's ZIP was renamed into place, its row not yet committed
  before-unlink   `bundle purge` committed and is about to delete an expired bundle's file
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from pathlib import Path
from typing import Any

from disclosure import create_app
from disclosure.storage.store import BlobStore


def wait_to_be_killed(ready: Path) -> None:
    ready.touch()
    time.sleep(600)
    raise SystemExit("nobody killed me")


def arm(moment: str, ready: Path) -> None:
    if moment == "after-blob":
        real_put = BlobStore.put

        def put_then_stop(self: BlobStore, *args: Any, **kwargs: Any) -> Any:
            real_put(self, *args, **kwargs)
            wait_to_be_killed(ready)

        BlobStore.put = put_then_stop  # type: ignore[method-assign]
    elif moment == "mid-bundle":
        import disclosure.exports.bundle as bundle_format

        real_encrypt = bundle_format.encrypt_into_zip

        def encrypt_then_stop(*args: Any, **kwargs: Any) -> Any:
            real_encrypt(*args, **kwargs)
            args[0].fp.flush()  # the ZipFile's file: what it wrote so far reaches the .partial
            wait_to_be_killed(ready)

        bundle_format.encrypt_into_zip = encrypt_then_stop  # type: ignore[assignment]
    elif moment == "after-rename":
        real_replace = os.replace

        def replace_then_stop(source: Any, target: Any) -> None:
            real_replace(source, target)
            if str(target).endswith(".zip") and Path(target).parent.name == "bundles":
                wait_to_be_killed(ready)

        os.replace = replace_then_stop  # type: ignore[assignment]
    elif moment == "before-unlink":
        real_unlink = pathlib.Path.unlink

        def stop_then_unlink(self: pathlib.Path, missing_ok: bool = False) -> None:
            if self.suffix == ".zip" and self.parent.name == "bundles":
                wait_to_be_killed(ready)
            real_unlink(self, missing_ok=missing_ok)

        pathlib.Path.unlink = stop_then_unlink  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown moment {moment}")


def main(argv: list[str]) -> None:
    settings_file, ready, moment, separator, *command = argv
    assert separator == "--"
    settings = json.loads(Path(settings_file).read_text(encoding="utf-8"))
    app = create_app(settings)
    arm(moment, Path(ready))
    result = app.test_cli_runner().invoke(args=command, catch_exceptions=False)
    raise SystemExit(f"the command ended before the moment {moment}: exit {result.exit_code}\n{result.output}")


if __name__ == "__main__":
    main(sys.argv[1:])
