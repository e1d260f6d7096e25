"""Bundle-build benchmark: MB/s and peak memory of build_bundle, against `openssl enc` + `sha256sum`.

Generates --files random files totalling --size-mb MB (default 4 x 256 MB = 1 GB) once in a temporary folder,
then, --rounds times and alternating:
  * build: a child process that imports only the builder, builds a bundle of those files to an RSA recipient
    certificate, and reports the build's time and its peak RSS (VmHWM from inside, ru_maxrss from wait4);
  * anchor: for each file,
        openssl enc -aes-256-ctr -pbkdf2 -iter 10000 -md sha256 -pass pass:x -in F -out F.enc
    then `sha256sum F.enc`, as separate processes, timed together.
Both read the same files from the page cache and write to the same folder. The build also fsyncs its output
(DESIGN requires it); the anchor does not, so the ratio is conservative. MB means 2^20 bytes here.

The child bypasses disclosure/__init__.py, which loads the whole web stack (Flask, SQLAlchemy, Alembic: about
65 MB RSS by itself), so that the figure is the builder's own; the baseline RSS after imports is printed too.
DESIGN's budget: >= 150 MB/s, >= 0.8x the openssl pipeline, peak memory < 64 MB at any size.

    .venv/bin/python bench/bundle_bench.py [--size-mb 1024] [--files 4] [--rounds 3] [--dir /tmp]

The last line printed is one JSON object: {"mb_per_s", "ratio_to_openssl", "peak_rss_mb", ...}.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20
BUDGET = {"mb_per_s": 150.0, "ratio_to_openssl": 0.8, "peak_rss_mb": 64.0}


def _vm_hwm_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _child_build(work: Path) -> None:
    """Runs in the child: import the builder alone, build one bundle, print JSON figures."""
    package = types.ModuleType("disclosure")
    package.__path__ = [str(ROOT / "disclosure")]  # skip disclosure/__init__.py and the web stack it imports
    sys.modules["disclosure"] = package
    from cryptography import x509

    from disclosure.exports.bundle import PayloadFile, build_bundle
    from disclosure.exports.pki import load_signer

    signer = load_signer(work / "keys")
    recipient = x509.load_pem_x509_certificate((work / "recipient.pem").read_bytes())
    checkpoint = (work / "checkpoint.txt").read_text()
    sources = sorted((work / "src").iterdir())
    # build_bundle opens each file when it gets to it, and closes it
    files = [PayloadFile(p.name, functools.partial(open, p, "rb", buffering=0), p.stat().st_size) for p in sources]
    baseline = _vm_hwm_kb()
    started = time.perf_counter()
    result = build_bundle(
        work / "out" / "bundle.zip",
        bag_name="BENCH-1",
        files=files,
        recipients=[recipient],
        signer=signer,
        checkpoint_note=checkpoint,
        inner_metadata={"bench": True},
    )
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "payload_bytes": result.payload_bytes,
                "size": result.size,
                "baseline_kb": baseline,
                "vm_hwm_kb": _vm_hwm_kb(),
            }
        )
    )


def _prepare(work: Path, size_mb: int, count: int) -> None:
    """Runs in a child: keys, a recipient certificate, a checkpoint and the payload files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.x509.oid import NameOID

    sys.path.insert(0, str(ROOT))
    from disclosure.exports.pki import init_pki
    from disclosure_proofs.note import sign_checkpoint

    init_pki(work / "keys", "Bench Org")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench recipient")])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    (work / "recipient.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log_key = ed25519.Ed25519PrivateKey.generate()
    (work / "checkpoint.txt").write_text(sign_checkpoint("bench/log", 1, bytes(32), log_key, "bench/log"))

    src = work / "src"
    src.mkdir()
    (work / "out").mkdir()
    per_file = size_mb * MB // count
    block = os.urandom(MB)
    paths = []
    for index in range(count):
        path = src / f"part-{index}.bin"
        with open(path, "wb") as handle:
            left = per_file
            while left:
                # fresh random bytes per MB are slow to make; a rotated random block is as good for a cipher
                chunk = block[index % 7 :] + block[: index % 7]
                handle.write(chunk[: min(MB, left)])
                block = block[13:] + block[:13]
                left -= min(MB, left)
        paths.append(path)


def _run_build(work: Path) -> dict[str, float]:
    """Build in a child; its peak RSS from inside (VmHWM) and from os.wait4 (ru_maxrss of this child alone;
    this parent imports only the standard library, so the pages it shares before exec are few)."""
    with open(work / "child.out", "w+") as out, open(work / "child.err", "w+") as err:
        child = subprocess.Popen([sys.executable, __file__, "--child-build", str(work)], stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            sys.exit(f"build failed:\n{err.read()}")
        figures = json.loads(out.read().strip().splitlines()[-1])
    figures["ru_maxrss_kb"] = usage.ru_maxrss
    (work / "out" / "bundle.zip").unlink()
    return figures


def _run_anchor(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        encrypted = path.with_suffix(".enc")
        subprocess.run(
            [
                "openssl",
                "enc",
                "-aes-256-ctr",
                "-pbkdf2",
                "-iter",
                "10000",
                "-md",
                "sha256",
                "-pass",
                "pass:x",
                "-in",
                str(path),
                "-out",
                str(encrypted),
            ],
            check=True,
        )
        subprocess.run(["sha256sum", str(encrypted)], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    for path in paths:
        path.with_suffix(".enc").unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="total payload in MB (2^20 bytes)")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to put the temporary files (needs 3x the size free)")
    parser.add_argument("--child-build", metavar="WORK", help=argparse.SUPPRESS)
    parser.add_argument("--child-prepare", nargs=3, metavar=("WORK", "MB", "FILES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build:
        _child_build(Path(args.child_build))
        return
    if args.child_prepare:
        _prepare(Path(args.child_prepare[0]), int(args.child_prepare[1]), int(args.child_prepare[2]))
        return
    for tool in ("openssl", "sha256sum"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed for the anchor")

    work = Path(tempfile.mkdtemp(prefix="bundle-bench-", dir=args.dir))
    try:
        print(f"preparing {args.files} files, {args.size_mb} MB in all, in {work} …", flush=True)
        subprocess.run(
            [sys.executable, __file__, "--child-prepare", str(work), str(args.size_mb), str(args.files)],
            check=True,
        )
        paths = sorted((work / "src").iterdir())
        payload_mb = sum(p.stat().st_size for p in paths) / MB
        builds, anchors = [], []
        for round_number in range(1, args.rounds + 1):
            build = _run_build(work)
            anchor = _run_anchor(paths)
            builds.append(build)
            anchors.append(anchor)
            print(
                f"round {round_number}: build {build['seconds']:.2f} s ({payload_mb / build['seconds']:.0f} "
                "MB/s, "
                f"peak RSS {build['vm_hwm_kb'] / 1024:.1f} MB)   openssl enc + sha256sum {anchor:.2f} s "
                f"({payload_mb / anchor:.0f} MB/s)",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    build_seconds = statistics.median(b["seconds"] for b in builds)
    anchor_seconds = statistics.median(anchors)
    mb_per_s = payload_mb / build_seconds
    anchor_mb_per_s = payload_mb / anchor_seconds
    ratio = mb_per_s / anchor_mb_per_s
    peak_kb = max(max(b["vm_hwm_kb"], b["ru_maxrss_kb"]) for b in builds)
    baseline_kb = max(b["baseline_kb"] for b in builds)
    print()
    print(f"payload: {payload_mb:.0f} MB in {args.files} files; median of {args.rounds} rounds")
    print(f"build_bundle:           {mb_per_s:8.1f} MB/s   (budget >= {BUDGET['mb_per_s']:.0f})")
    print(f"openssl enc + sha256sum: {anchor_mb_per_s:7.1f} MB/s")
    print(f"ratio to openssl:        {ratio:7.2f}x     (budget >= {BUDGET['ratio_to_openssl']})")
    print(
        f"peak RSS of the build:   {peak_kb / 1024:7.1f} MB     (budget < {BUDGET['peak_rss_mb']:.0f}; "
        f"{baseline_kb / 1024:.1f} MB after imports, before building)"
    )
    print(
        json.dumps(
            {
                "mb_per_s": round(mb_per_s, 1),
                "ratio_to_openssl": round(ratio, 3),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "openssl_mb_per_s": round(anchor_mb_per_s, 1),
                "baseline_rss_mb": round(baseline_kb / 1024, 1),
                "payload_mb": round(payload_mb),
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    main()
