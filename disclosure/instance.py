"""Creates the instance folder: the secret key (mode 0600) and the folders for keys, blobs and checkpoints.

Run `python -m disclosure.instance init [PATH]`; it never overwrites an existing secret.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from disclosure.config import SECRET_KEY_FILE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"
PRIVATE_DIRS = ("keys", "blobs", "checkpoints")


def default_instance_path() -> Path:
    return Path(os.environ.get("DISCLOSURE_INSTANCE_PATH") or DEFAULT_INSTANCE)


def write_private_file(path: Path, content: bytes) -> None:
    """Create path with mode 0600 from the first byte on; refuse to replace an existing file."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def init_instance(path: Path) -> list[str]:
    """Create what is missing and return a line for each thing created."""
    created = []
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in PRIVATE_DIRS:
        folder = path / name
        if not folder.exists():
            folder.mkdir(mode=0o700)
            created.append(f"created {folder}/")
    key_path = path / SECRET_KEY_FILE
    if not key_path.exists():
        write_private_file(key_path, (secrets.token_urlsafe(48) + "\n").encode("ascii"))
        created.append(f"created {key_path} (mode 0600)")
    return created


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "init" or len(argv) > 2:
        print("usage: python -m disclosure.instance init [INSTANCE_PATH]", file=sys.stderr)
        return 2
    path = Path(argv[1]) if len(argv) == 2 else default_instance_path()
    for line in init_instance(path) or [f"{path} is ready; nothing to create"]:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
