"""The one call this app makes into the bundle writer (`police/bundle.py`).

The export pipeline (`police.exports`) owns everything around the case file:
who may ask, the task, the AES-256 ZIP, the one-time link. What goes *inside*
the case file (cover PDF, manifest, custody log, signature…) is written by
`police.bundle.write_bundle`, which this module imports lazily so the pipeline
can be built and tested on its own; tests swap `write_bundle` for a small fake.

Contract (keyword-only):

    write_bundle(*, case, out_dir: pathlib.Path, purpose: str, requested_by,
                 progress=None) -> BundleResult

* `case` is a `support.models.Case`; `requested_by` the liaison's `Membership`;
  `purpose` the stated purpose as one line of text (code label and detail);
* `out_dir` exists, is empty and private (mode 0700); the writer puts every file
  of the case file under it (sub-folders allowed) and nothing anywhere else;
* `progress`, when given, is called as `progress(done, total)` with any two
  non-negative integers (bytes, files…); it is cheap and may be called often;
* it returns a `BundleResult`; it raises on any failure, leaving the folder to
  the caller, who deletes it either way.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Progress = Callable[[int, int], None]


class BundleWriterMissing(RuntimeError):
    """`police.bundle` is not installed: the case-file writer has not been merged."""


@dataclass(frozen=True)
class BundleResult:
    """What the writer reports back; the ZIP packer itself walks `out_dir`."""

    # SHA-256 (hex) of manifest.json, the file the signature covers.
    manifest_sha256: str
    # The files written, relative to out_dir (POSIX paths), in manifest order.
    files: tuple[str, ...] = field(default_factory=tuple)
    exhibits: int = 0


def write_bundle(
    *, case, out_dir: Path, purpose: str, requested_by, progress: Progress | None = None
) -> BundleResult:
    # Only a missing module is "missing": an ImportError inside it must surface as is.
    if importlib.util.find_spec("police.bundle") is None:
        raise BundleWriterMissing(
            "police.bundle is missing: the case-file writer (police/bundle.py) must be "
            "installed before exports can run"
        )
    bundle = importlib.import_module("police.bundle")
    return bundle.write_bundle(
        case=case, out_dir=out_dir, purpose=purpose, requested_by=requested_by, progress=progress
    )
