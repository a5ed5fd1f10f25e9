"""WinZip AES-256 (AE-2) ZIP writing at the speed of OpenSSL.

pyzipper writes WinZip AES archives that 7-Zip opens, but encrypts with
pycryptodomex: its CTR mode and its HMAC-SHA1 run at a fraction of OpenSSL's speed,
and zipfile computes a CRC-32 that AE-2 entries never store (their CRC field is 0;
the HMAC authenticates the entry instead). Together those cost more than the whole
rest of a police export. This module keeps pyzipper's archive format, headers, key
derivation and password check, and swaps only the two per-byte primitives:

* AES-256-CTR exactly as WinZip AES defines it — a 128-bit *little-endian* block
  counter starting at 1, which OpenSSL's big-endian CTR cannot produce — built from
  OpenSSL AES-ECB over counter blocks generated with numpy, XORed with numpy;
* HMAC-SHA1 over the ciphertext (first 10 bytes stored) from the standard library
  (OpenSSL), the same function pycryptodomex computes.

The tests read every archive back with pyzipper's own decrypter (pycryptodomex), so
any disagreement with the format fails them.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pyzipper
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pyzipper import zipfile as _zipfile
from pyzipper import zipfile_aes

_BLOCK = 16
_KEY_LENGTHS = {128: 16, 192: 24, 256: 32}


class _WinZipCTR:
    """AES-CTR with WinZip AES's little-endian counter (block 1, 2, … in the low 8
    bytes; an entry would need 2**64 blocks before the high bytes mattered).

    ``encrypt`` returns a view of a buffer it reuses on the next call: the entry
    writer hands it to the HMAC and the file at once and keeps nothing. Every buffer
    is reused (``update_into``, ``out=``): allocating a fresh megabyte per call costs
    more than the AES itself.
    """

    def __init__(self, key: bytes) -> None:
        # ECB over distinct counter blocks only: this *is* CTR mode, with the counter
        # layout WinZip requires (never ECB over data).
        self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
        self._next = 1
        self._left = b""  # keystream generated but not yet used (under 16 bytes)
        self._size = 0
        self._grow(0)

    def _grow(self, blocks: int) -> None:
        self._size = blocks
        self._steps = np.arange(blocks, dtype=np.uint64)
        self._counters = np.zeros((blocks, 2), dtype="<u8")  # high 8 bytes stay 0
        self._stream = bytearray(blocks * _BLOCK + _BLOCK)  # update_into needs a block spare
        self._out = np.empty(blocks * _BLOCK + _BLOCK, dtype=np.uint8)

    def encrypt(self, data) -> memoryview:
        n = len(data)
        if not n:
            return memoryview(b"")
        blocks = -(-n // _BLOCK)
        if blocks > self._size:
            self._grow(blocks)
        plain = np.frombuffer(data, dtype=np.uint8)
        out = self._out[:n]
        used = min(len(self._left), n)
        if used:
            np.bitwise_xor(plain[:used], np.frombuffer(self._left[:used], np.uint8), out=out[:used])
            self._left = self._left[used:]
        rest = n - used
        if rest:
            blocks = -(-rest // _BLOCK)
            counters = self._counters[:blocks]
            np.add(self._steps[:blocks], np.uint64(self._next), out=counters[:, 0])
            self._next += blocks
            self._ecb.update_into(memoryview(counters).cast("B"), self._stream)
            stream = np.frombuffer(self._stream, dtype=np.uint8)
            np.bitwise_xor(plain[used:], stream[:rest], out=out[used:])
            self._left = bytes(stream[rest : blocks * _BLOCK])
        return memoryview(out)


class _FastAESEncrypter(zipfile_aes.AESZipEncrypter):
    def __init__(self, pwd, nbits=256, **kwargs) -> None:
        super().__init__(pwd, nbits=nbits, **kwargs)  # salt, password check, AE version
        length = _KEY_LENGTHS[nbits]
        # The same PBKDF2-HMAC-SHA1 (1000 rounds) as pyzipper, for the two keys it keeps
        # to itself: the first half keys AES, the second the HMAC.
        material = hashlib.pbkdf2_hmac("sha1", pwd, self.salt, 1000, 2 * length + 2)
        if material[2 * length :] != self.encpwdverify:
            raise RuntimeError("key derivation disagrees with pyzipper")
        self.encrypter = _WinZipCTR(material[:length])
        self.hmac = hmac.new(material[length : 2 * length], digestmod="sha1")

    def encrypt_view(self, data) -> memoryview:
        """Encrypt and authenticate, returning a view (no copy) for the entry writer."""
        out = self.encrypter.encrypt(data)
        self.hmac.update(out)
        return out

    def encrypt(self, data) -> bytes:  # pyzipper's own calls (the end of an entry)
        return self.encrypt_view(data).tobytes()


class _AE2WriteFile(_zipfile._ZipWriteFile):
    """zipfile's entry writer without the CRC-32, which AE-2 entries store as 0."""

    def write(self, data):
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        nbytes = len(data)
        self._file_size += nbytes
        if self._compressor:
            data = self._compressor.compress(data)
        data = self._encrypter.encrypt_view(data)
        self._compress_size += len(data)
        self._fileobj.write(data)
        return nbytes


class AESZipWriter(pyzipper.AESZipFile):
    """A write-only AES-256 ZipFile (AE-2 entries) with OpenSSL speed."""

    zipwritefile_cls = _AE2WriteFile

    def __init__(self, file, passphrase: str) -> None:
        super().__init__(
            file,
            "w",
            compression=pyzipper.ZIP_DEFLATED,
            encryption=pyzipper.WZ_AES,
            encryption_kwargs={"nbits": 256, "force_wz_aes_version": zipfile_aes.WZ_AES_V2},
        )
        self.setpassword(passphrase.encode())

    def get_encrypter(self):
        return _FastAESEncrypter(pwd=self.pwd, **self.encryption_kwargs)
