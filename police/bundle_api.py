"""The one call this app makes into the bundle writer (`police/bundle.py`).

The export pipeline (`police.exports`) owns everything around the case file:
who may ask, the task, the AES-256 ZIP, the one-time link. What goes *inside*
the case file (cover PDF, manifest, custody log, signature…) is written by
`police.bundle.write_bundle`; this module is the seam, so the pipeline's tests can
swap `write_bundle` for a small fake.

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

from collections.abc import Callable
from pathlib import Path

from . import bundle
from .bundle import BundleResult

Progress = Callable[[int, int], None]

__all__ = ["BundleResult", "write_bundle"]


def write_bundle(
    *, case, out_dir: Path, purpose: str, requested_by, progress: Progress | None = None
) -> BundleResult:
    return bundle.write_bundle(
        case=case, out_dir=out_dir, purpose=purpose, requested_by=requested_by, progress=progress
    )
