"""Police export benchmark: write_bundle over a case with large context files.

Throughput: the whole export as the worker runs it (decrypting each context file from
the evidence store, hashing it as it is written, checking it against its intake
SHA-256, encrypting it into the AES-256 ZIP, plus every other bundle file, the custody
log and the signature), and write_bundle alone into a folder, each against raw
``hashlib.sha256`` over the same number of bytes in memory, in the same run (median
of 3). Memory: a fresh process runs the ZIP export; the figure is its peak RSS above
its idle RSS (Linux VmHWM after a reset), as for the upload benchmark.

``BENCH_EXPORT_BYTES`` sets the total size of the context files (default 2 GB, the
issue's size, spread over 4 files).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
EXPORT_BYTES = int(float(os.environ.get("BENCH_EXPORT_BYTES", "2e9")))
FILES = 4
REPEATS = 3
BLOCK = os.urandom(MiB)


def _chunks(size: int):
    left = size
    while left > 0:
        n = min(left, len(BLOCK))
        left -= n
        yield BLOCK[:n]


def make_case(total: int):
    """A case with FILES context files of total/FILES bytes each, stored through the vault."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from reporting.forms import submission
    from support import intake, members
    from support.models import ContextFile, Role
    from vault import services as vault_services
    from vault.audit import Actor

    with transaction.atomic():
        org = members.create_organisation(name="Bench", actor=Actor.system("bench"))
        user = get_user_model().objects.create_user(username=f"bench-{org.uuid.hex[:8]}")
        coordinator = members.add_member(
            organisation=org, user=user, role=Role.COORDINATOR, actor=Actor.system("bench")
        )
        case, _ = intake.submit_report(
            organisation=org,
            incident=None,
            submission=submission(
                {
                    "who": {
                        "filer_role": "parent",
                        "age_band": "14_15",
                        "contact_preference": "none",
                    },
                    "what": {"categories": ["fake_images"], "narrative": "bench"},
                }
            ),
        )
    for i in range(FILES):
        blob = vault_services.store_stream(
            _chunks(total // FILES),
            actor=Actor.family(case.uuid),
            filename=f"export-{i}.bin",
            content_type="application/octet-stream",
            organisation_id=org.uuid,
        )
        ContextFile.objects.create(case=case, blob=blob)
    return case, coordinator


def _export(case, coordinator, root: Path) -> float:
    from police.bundle import write_bundle

    out = Path(tempfile.mkdtemp(prefix="export-", dir=root))
    start = time.perf_counter()
    write_bundle(case=case, out_dir=out, purpose="bench", requested_by=coordinator)
    seconds = time.perf_counter() - start
    shutil.rmtree(out)
    return seconds


def _export_zip(case, coordinator, root: Path) -> float:
    """The export as the worker runs it: write_bundle straight into the AES-256 ZIP."""
    from police.bundle import write_bundle
    from police.exports import ZipTarget, _aes_zip

    out = Path(tempfile.mkdtemp(prefix="export-zip-", dir=root))
    start = time.perf_counter()
    with (
        open(out / "export.zip", "wb", buffering=0) as raw,
        _aes_zip(raw, "bench-passphrase") as archive,
    ):
        target = ZipTarget(archive)
        write_bundle(case=case, target=target, purpose="bench", requested_by=coordinator)
        target.write_index()
    seconds = time.perf_counter() - start
    shutil.rmtree(out)
    return seconds


def _raw_sha256(total: int) -> float:
    start = time.perf_counter()
    sha = hashlib.sha256()
    for chunk in _chunks(total):
        sha.update(chunk)
    sha.hexdigest()
    return time.perf_counter() - start


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def memory_child(case_uuid: str, root: str) -> None:
    """In a fresh process: export once small-warm, reset the peak, export the case."""
    import django

    django.setup()
    from support.models import Case, Membership

    case = Case.objects.get(uuid=case_uuid)
    coordinator = Membership.objects.get(organisation=case.organisation, role="coordinator")
    # Warm up imports, fonts and connections with one export, then reset the high-water mark.
    _export_zip(case, coordinator, Path(root))
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    idle = _status("VmRSS")
    seconds = _export_zip(case, coordinator, Path(root))
    print(json.dumps({"idle": idle, "peak": _status("VmHWM"), "seconds": seconds}))


def bench_export(row, root: Path) -> list[dict]:
    from vault import services as vault_services
    from vault.audit import Actor

    case, coordinator = make_case(EXPORT_BYTES)
    try:
        _export_zip(case, coordinator, root)  # warm: page cache, imports, fonts
        runs = []
        for _ in range(REPEATS):
            runs.append(
                (
                    _export_zip(case, coordinator, root),
                    _export(case, coordinator, root),
                    _raw_sha256(EXPORT_BYTES),
                )
            )
        zipped = statistics.median(r[0] for r in runs)
        folder = statistics.median(r[1] for r in runs)
        raw = statistics.median(r[2] for r in runs)
        result = subprocess.run(  # noqa: S603 - this package, fixed arguments
            [sys.executable, "-m", "bench", "--export-memory-child", str(case.uuid), str(root)],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        for context_file in case.files.select_related("blob"):
            vault_services.destroy_blob(context_file.blob, actor=Actor.system("bench"))
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    raw_mbps = EXPORT_BYTES / raw / 1e6
    zip_mbps, folder_mbps = EXPORT_BYTES / zipped / 1e6, EXPORT_BYTES / folder / 1e6
    above = (figures["peak"] - figures["idle"]) / MiB
    size = f"{EXPORT_BYTES / 1e9:.2f} GB" if EXPORT_BYTES >= 1e9 else f"{EXPORT_BYTES // MiB} MiB"
    return [
        row(
            f"police export (write_bundle into the AES-256 ZIP, as the worker runs it) of a "
            f"case with {size} of context files vs raw SHA-256 over the same bytes",
            zip_mbps, "MB/s", raw_mbps, zip_mbps / raw_mbps, ">= 0.5x", zip_mbps / raw_mbps >= 0.5,
        ),
        row(
            f"police case file (write_bundle into a folder) of the same {size} "
            "vs raw SHA-256 over the same bytes",
            folder_mbps, "MB/s", raw_mbps, folder_mbps / raw_mbps, ">= 0.5x",
            folder_mbps / raw_mbps >= 0.5,
        ),
        row(
            f"peak memory above idle during the ZIP export ({size}, "
            f"{EXPORT_BYTES / figures['seconds'] / 1e6:.0f} MB/s)",
            above, "MiB", figures["idle"] / MiB, above / (figures["idle"] / MiB),
            "< 64 MiB", above < 64,
        ),
    ]  # fmt: skip
