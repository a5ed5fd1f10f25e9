"""The one call this app makes into the bundle writer (`police/bundle.py`).

The export pipeline (`police.exports`) owns everything around the case file:
who may ask, the task, the AES-256 ZIP, the one-time link. What goes *inside*
the case file (cover PDF, manifest, custody log, signature…) is written by
`police.bundle.write_bundle`; this module is the seam, so the pipeline's tests can
swap `write_bundle` for a small fake.

Contract (keyword-only):

    write_bundle(*, case, target, purpose: str, requested_by,
                 progress=None) -> BundleResult

* `case` is a `support.models.Case`; `requested_by` the liaison's `Membership`;
  `purpose` the stated purpose as one line of text (code label and detail);
* `target` receives every file of the case file and nothing goes anywhere else:
  `target.open(rel_path, size=None)` returns a handle with `write_batch(list of
  bytes)` and `close()`; `target.finished(rel_path, sha256_hex, size)` is called
  after each file (`police.exports.ZipTarget` writes them into the AES-256 ZIP,
  `police.bundle.DirectoryTarget` into a folder);
* `progress`, when given, is called as `progress(done, total)` with any two
  non-negative integers (bytes, files…); it is cheap and may be called often;
* it returns a `BundleResult`; it raises on any failure, leaving the target to
  the caller, who deletes it.
"""

from __future__ import annotations

from collections.abc import Callable

from . import bundle
from .bundle import BundleResult

Progress = Callable[[int, int], None]

__all__ = ["BundleResult", "write_bundle"]


def write_bundle(
    *, case, target, purpose: str, requested_by, progress: Progress | None = None
) -> BundleResult:
    return bundle.write_bundle(
        case=case, target=target, purpose=purpose, requested_by=requested_by, progress=progress
    )
