"""Helpers of the store-file and keystore hostile tests: the CLI in a subprocess, digests, a small disk."""
from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*argv: str, store: Path, env: dict[str, str] | None = None, umask: int = 0o022) -> Result:
    """`workbench --store STORE ARGV...` in a fresh process (umask 022 unless told), as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "workbench", "--store", str(store), *argv], cwd=store.parent,
                          env=full_env, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.umask(umask))
    return Result(proc.returncode, proc.stdout, proc.stderr)


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def assert_refused(result: Result, code: str, exit_code: int, *names: str) -> None:
    """Exit code, `CODE: title — remedy` on stderr, every name in the message, never INTERNAL or a traceback."""
    assert result.code == exit_code, (result.code, result.err)
    assert result.err.startswith(f"{code}: "), result.err
    for name in names:
        assert name in result.err, (name, result.err)
    assert "INTERNAL" not in result.err and "Traceback" not in result.err, result.err


@contextmanager
def small_disk(where: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` for the test; a test that cannot mount one FAILS."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"the disk-full tests need a small tmpfs: `mount -t tmpfs` at {where} failed "
                    f"({mounted.stderr.strip() or mounted.returncode}); run them as root on Linux")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the file system of ``disk`` with a filler file, then give back about ``leave`` bytes."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as fh:
        for chunk in (1 << 20, 1 << 12):
            try:
                while True:
                    fh.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def make_cert(directory: Path, name: str, *, days: tuple[int, int]) -> Path:
    """A self-signed PEM certificate for ``name`` valid from now+days[0] to now+days[1]."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=days[0])).not_valid_after(now + dt.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
