"""Opening a sealed blob with the recipient's private key, away from the server.

A police unit that received a sealed original needs three things: the ciphertext
file (AMPV1), the sealed DEK (92 bytes) and the blob id it is bound to — plus its
own private key, which never left its hands. This module needs no Django, no
database and nothing installed but ``cryptography`` (``vault/crypto.py`` imports
``argon2`` only inside the access-code functions): copy ``vault/__init__.py``,
``vault/crypto.py`` and this file, or install the project, and call
``open_sealed_file``. ``python manage.py open_sealed`` does the same with the
ciphertext and sealed DEK taken from the server's store and database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import BinaryIO

from . import crypto


def open_sealed_file(
    ciphertext: str | os.PathLike | BinaryIO,
    out_path: str | os.PathLike,
    *,
    private_key_pem: bytes,
    sealed_dek: bytes,
    blob_id: str,
    password: bytes | None = None,
    expected_sha256: str | None = None,
) -> str:
    """Decrypt a sealed blob to ``out_path``; return the SHA-256 hex of the plaintext.

    The DEK is opened with ``crypto.open_sealed_dek`` (X25519 + HKDF-SHA-256 +
    AES-GCM, bound to ``blob_id``), then the AMPV1 stream is decrypted segment by
    segment. The plaintext goes to a temporary file next to ``out_path`` (mode 0600)
    and is renamed into place only once every segment has authenticated and, if
    ``expected_sha256`` is given, the digest matches: a wrong key, an altered byte
    or a truncated file leaves no output at all. Refuses to overwrite ``out_path``.

    Raises ``crypto.IntegrityError`` (wrong key, wrong blob, tampering),
    ``ValueError`` (unreadable key file or hash mismatch), ``FileExistsError``.
    """
    out_path = Path(out_path)
    if out_path.exists():
        raise FileExistsError(f"{out_path} already exists")
    private = crypto.private_key_from_pem(private_key_pem, password)
    dek = crypto.open_sealed_dek(sealed_dek, private, blob_id=blob_id)
    temp = out_path.with_name(f".{out_path.name}.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    source = open(ciphertext, "rb") if isinstance(ciphertext, str | os.PathLike) else ciphertext  # noqa: SIM115
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for segment in crypto.decrypt_stream(source, dek, blob_id=blob_id):
                digest.update(segment)
                out.write(segment)
        sha256 = digest.hexdigest()
        if expected_sha256 is not None and not hmac.compare_digest(sha256, expected_sha256):
            raise ValueError("the decrypted file does not match the expected SHA-256")
        os.rename(temp, out_path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        if source is not ciphertext:
            source.close()
    return sha256
