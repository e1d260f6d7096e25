"""The package builds quietly and carries the files the app reads at run time (issue 16: `make setup` printed about
150 lines of setuptools warnings, one block per data folder setuptools could not place)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_builds_without_package_warnings_and_holds_its_data(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    output = built.stdout + built.stderr
    assert "is absent from the `packages` configuration" not in output
    (wheel,) = tmp_path.glob("disclosure-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "disclosure/policy/default.toml",
        "disclosure/policy/versions/2026-1.toml",
        "disclosure/policy/examples/search-warrant.json",
        "disclosure/static/css/disclosure.css",
        "disclosure/static/js/copy.js",
        "disclosure/auth/common-passwords.txt.gz",
        "disclosure_proofs/__init__.py",
    ):
        assert needed in names, needed
    assert not [name for name in names if "__pycache__" in name]
