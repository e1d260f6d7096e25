"""bench/bundle_bench.py runs end to end on a tiny payload and ends with its JSON line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bundle_bench.py"


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("sha256sum") is None, reason="anchor tools")
def test_bench_smoke(tmp_path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--size-mb",
            "4",
            "--files",
            "2",
            "--rounds",
            "1",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"mb_per_s", "ratio_to_openssl", "peak_rss_mb"} <= figures.keys()
    assert figures["mb_per_s"] > 0 and 0 < figures["peak_rss_mb"] < 64
    assert list(tmp_path.iterdir()) == []  # the bench cleans up after itself
