"""Stream payload files into the bundle's ZIP: encrypt in openssl enc format, hash plaintext and ciphertext,
and hash the ZIP itself as it is written.

Per 1 MiB chunk: one worker thread hashes the plaintext while the caller encrypts it (AES-256-CTR into a
preallocated buffer); another hashes the ciphertext while the caller CRCs and writes it; TrailingHasher reads
back and hashes each finished region of the ZIP. Invariants: memory does not grow with the file size; a buffer
handed to a worker is untouched until wait() returns; a worker's error is re-raised in the caller.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from disclosure_proofs.bundle_format import CHUNK
from disclosure_proofs.openssl_enc import ENC_HEADER_SIZE, ENC_MAGIC, SALT_SIZE, aes_ctr

__all__ = ["TrailingHasher", "Worker", "encrypt_into_zip", "zip_info"]

#: A ZIP entry needs zip64 fields past 4 GiB; decided up front because the local header is written first.
_ZIP64_LIMIT = (1 << 32) - 1 - 1024


class Worker:
    """Runs one job at a time on its own thread. hashlib releases the GIL on large buffers, so hashing the
    plaintext and the ciphertext on two workers overlaps with encrypting, CRCing and writing on the caller."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._job: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stop:
                    self._cond.wait()
                if self._job is None:
                    return
                function, args = self._job
            try:
                function(*args)
            except BaseException as error:  # re-raised in the submitting thread by wait()
                self._error = error
            with self._cond:
                self._job = None
                self._cond.notify_all()

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        """Start function(*args); buffers passed in must stay untouched until wait() returns."""
        with self._cond:
            while self._job is not None:
                self._cond.wait()
            self._job = (function, args)
            self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            while self._job is not None:
                self._cond.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()


class TrailingHasher:
    """SHA-256 of the ZIP while it is written.

    A thread reads back (from the page cache) each region the writer has declared final, and hashes it.
    zipfile rewrites an entry's local header when the entry closes, so a region is final only then; reading
    back lets the hash follow one entry behind instead of hashing the whole file again at the end."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._digest = hashlib.sha256()
        self._buffer = bytearray(CHUNK)
        self._done = 0
        self._target = 0
        self._closing = False
        self._abort = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="bundle-zip-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        view = memoryview(self._buffer)
        try:
            while True:
                with self._cond:
                    while self._done >= self._target and not self._closing and not self._abort:
                        self._cond.wait()
                    if self._abort or self._done >= self._target:
                        return
                    want = min(CHUNK, self._target - self._done)
                count = os.preadv(self._fd, [view[:want]], self._done)
                if count <= 0:
                    raise OSError(f"the bundle file ended at {self._done} bytes while being hashed")
                self._digest.update(view[:count])
                with self._cond:
                    self._done += count
                    self._cond.notify_all()
        except BaseException as error:  # re-raised by finish()
            with self._cond:
                self._error = error
                self._cond.notify_all()

    def advance(self, offset: int) -> None:
        """Bytes before offset are final (flushed to the OS, never rewritten)."""
        with self._cond:
            if offset > self._target:
                self._target = offset
                self._cond.notify_all()

    def finish(self, size: int) -> str:
        """Hash up to size (the finished file's length) and return the hex digest."""
        self.advance(size)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self.close()
        if self._error is not None:
            raise self._error
        if self._done != size:
            raise OSError(f"hashed {self._done} of {size} bytes of the bundle")
        return self._digest.hexdigest()

    def close(self) -> None:
        """Stop (abandoning any hashing still to do) and release the file."""
        with self._cond:
            self._abort = True
            self._cond.notify_all()
        self._thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _chunks_of(source: Any, buffers: Sequence[bytearray]) -> Iterable[memoryview]:
    """Yield memoryviews of at most CHUNK bytes; file objects are read into the given buffers in turn."""
    if hasattr(source, "readinto"):
        index = 0
        while True:
            buffer = buffers[index]
            count = source.readinto(buffer)
            if not count:
                return
            yield memoryview(buffer)[:count]
            index = (index + 1) % len(buffers)
    elif hasattr(source, "read"):
        while chunk := source.read(CHUNK):
            yield memoryview(chunk)
    else:
        for chunk in source:
            view = memoryview(chunk).cast("B")
            for start in range(0, len(view), CHUNK):
                yield view[start : start + CHUNK]


def zip_info(arcname: str, when: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=when)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    info.create_system = 3  # Unix, so that unzip applies the mode
    return info


def encrypt_into_zip(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    source: Any,
    passphrase: bytes,
    workers: tuple[Worker, Worker],
    buffers: Sequence[bytearray],
    out_buffer: bytearray,
    expected_size: int | None,
) -> tuple[int, str, str]:
    """Stream one source into the ZIP in openssl enc format.

    Returns (plaintext size, plaintext SHA-256, ciphertext SHA-256); expected_size (None when unknown) only
    decides whether the entry needs zip64 fields: the caller compares it with the size read. Per 1 MiB chunk:
    one worker hashes the plaintext while this thread encrypts it (AES-256-CTR into a preallocated buffer); the
    other worker hashes the ciphertext while this thread CRCs and writes it."""
    salt = secrets.token_bytes(SALT_SIZE)
    encryptor = aes_ctr(passphrase, salt).encryptor()
    plain_digest = hashlib.sha256()
    cipher_digest = hashlib.sha256()
    plain_worker, cipher_worker = workers
    header = ENC_MAGIC + salt
    cipher_digest.update(header)
    out_view = memoryview(out_buffer)
    size = 0
    force_zip64 = expected_size is None or expected_size + ENC_HEADER_SIZE >= _ZIP64_LIMIT
    with zf.open(info, "w", force_zip64=force_zip64) as out:
        out.write(header)
        try:
            for chunk in _chunks_of(source, buffers):
                plain_worker.submit(plain_digest.update, chunk)
                count = encryptor.update_into(chunk, out_buffer)
                ciphertext = out_view[:count]
                cipher_worker.submit(cipher_digest.update, ciphertext)
                out.write(ciphertext)
                size += len(chunk)
                # both buffers are reused for the next chunk
                plain_worker.wait()
                cipher_worker.wait()
        finally:
            plain_worker.wait()
            cipher_worker.wait()
        tail = encryptor.finalize()  # empty for CTR
        if tail:
            cipher_digest.update(tail)
            out.write(tail)
    return size, plain_digest.hexdigest(), cipher_digest.hexdigest()
