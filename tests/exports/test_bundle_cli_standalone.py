"""`disclosure-bundle` works without the server's dependencies: with Flask, SQLAlchemy, Werkzeug and the disclosure
package made unimportable, it verifies and decrypts a real bundle, and the console script points at it."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

from tests.exports.conftest import DEFAULT_FILES

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("flask", "sqlalchemy", "werkzeug", "flask_sqlalchemy", "alembic", "disclosure")

#: Run before the command: a meta path finder that refuses the server's packages, as on a machine without them.
PRELUDE = f"""
import importlib.abc, runpy, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is not installed here")
        return None

sys.meta_path.insert(0, Refuse())
try:
    import flask
except ImportError:
    pass
else:
    raise SystemExit("the import blocker does not work")
sys.argv = ["disclosure-bundle", *sys.argv[1:]]
runpy.run_module("disclosure_proofs.bundle_cli", run_name="__main__")
"""


def run_without_server(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_verify_and_decrypt_with_the_server_packages_unimportable(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, _ = make_bundle([recipient.cert])
    keys = ("--key", recipient.key_path, "--cert", recipient.cert_path)
    verified = run_without_server("verify", bundle, "--ca", ca_file, *keys, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "3 events included in checkpoint" in verified.stdout and "signature verified" in verified.stdout
    out = tmp_path / "out"
    decrypted = run_without_server("decrypt", bundle, "--ca", ca_file, *keys, "--out", out, cwd=tmp_path)
    assert decrypted.returncode == 0, decrypted.stderr
    for name, data in DEFAULT_FILES.items():
        assert (out / "payload" / name).read_bytes() == data


def test_a_tampered_bundle_still_fails_without_the_server_packages(make_bundle, ca_file, tmp_path) -> None:
    bundle, _ = make_bundle(None)
    data = bytearray(bundle.read_bytes())
    at = data.index(b"Salted__") + 40  # inside the first encrypted payload file
    data[at] ^= 1
    bundle.write_bytes(bytes(data))
    refused = run_without_server("verify", bundle, "--ca", ca_file, cwd=tmp_path)
    assert refused.returncode == 1 and "NOT VERIFIED" in refused.stderr, refused.stderr


def test_the_console_script_is_the_proofs_package() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"]
    assert "disclosure-bundle = disclosure_proofs.bundle_cli:main" in scripts
    assert "disclosure_proofs" in config["options.packages.find"]["include"]


def test_the_old_module_name_still_runs_the_command(make_bundle, ca_file, tmp_path) -> None:
    """`python -m disclosure.exports.bundle_cli` (in scripts and the README of old bundles) hands over to it."""
    bundle, _ = make_bundle(None)
    done = subprocess.run(
        [sys.executable, "-m", "disclosure.exports.bundle_cli", "verify", str(bundle), "--ca", str(ca_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
