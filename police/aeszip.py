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

The HMAC and the write run on a writer thread (``_WriterThread``)
while the caller encrypts the next batch: OpenSSL and hashlib release the GIL on
large buffers, so on two cores the steps overlap. Where the file system takes it, the
ZIP goes to the disk with O_DIRECT, from two aligned staging buffers and a thread of its
own, instead of through the page cache (see ``_WriterThread``).

The tests read every archive back with pyzipper's own decrypter (pycryptodomex), so
any disagreement with the format fails them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import io
import mmap
import os
import queue
import threading

import numpy as np
import pyzipper
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pyzipper import zipfile as _zipfile
from pyzipper import zipfile_aes

_BLOCK = 16
_WRITEBACK_BYTES = 16 * 1024 * 1024
# O_DIRECT writes must start, end and sit in memory on the device's logical block size:
# 4096 covers every disk Amparo runs on (512-byte sectors included).
_DIRECT_ALIGN = 4096
_DIRECT_CHUNK = 1024 * 1024
_KEY_LENGTHS = {128: 16, 192: 24, 256: 32}


class _WinZipCTR:
    """AES-CTR with WinZip AES's little-endian counter (block 1, 2, … in the low 8
    bytes; an entry would need 2**64 blocks before the high bytes mattered).

    ``encrypt_into`` writes the ciphertext of a list of pieces into a caller's buffer:
    one AES call for the keystream of the whole list, one XOR per piece, and no
    gathering copy of the plaintext. Its own buffers are reused (``update_into``,
    ``out=``): allocating a fresh megabyte per call costs more than the AES itself.
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

    def _keystream(self, n: int) -> np.ndarray:
        """The next ``n`` bytes of keystream (a view of a reused buffer)."""
        used = min(len(self._left), n)
        rest = n - used
        blocks = -(-rest // _BLOCK)
        if blocks + 1 > self._size:
            self._grow(blocks + 1)
        stream = np.frombuffer(self._stream, dtype=np.uint8)
        if used:
            # The carried-over bytes go first, then the fresh blocks after them.
            stream[:used] = np.frombuffer(self._left[:used], np.uint8)
            self._left = self._left[used:]
        if blocks:
            counters = self._counters[:blocks]
            np.add(self._steps[:blocks], np.uint64(self._next), out=counters[:, 0])
            self._next += blocks
            fresh = memoryview(self._stream)[used : used + blocks * _BLOCK + _BLOCK]
            self._ecb.update_into(memoryview(counters).cast("B"), fresh)
            self._left = bytes(stream[n : used + blocks * _BLOCK])
        return stream[:n]

    def encrypt_into(self, pieces, out: np.ndarray) -> int:
        n = sum(map(len, pieces))
        if not n:
            return 0
        stream = self._keystream(n)
        offset = 0
        for piece in pieces:
            size = len(piece)
            if size:
                end = offset + size
                np.bitwise_xor(
                    np.frombuffer(piece, dtype=np.uint8), stream[offset:end], out=out[offset:end]
                )
                offset = end
        return n


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
        # Set by the entry writer: waits until the writer thread has authenticated
        # every ciphertext byte handed to it (the HMAC runs there, in order).
        self.drain = lambda: None

    def encrypt_pieces(self, pieces, out: np.ndarray) -> memoryview:
        """Encrypt ``pieces`` into ``out``; a view of the ciphertext, which the caller
        must pass to ``self.hmac`` (the writer thread does, in order)."""
        n = self.encrypter.encrypt_into(pieces, out)
        return memoryview(out)[:n]

    def encrypt(self, data) -> bytes:  # pyzipper's own call, at the end of an entry
        self.drain()
        out = np.empty(len(data), dtype=np.uint8)
        view = self.encrypt_pieces([data], out)
        self.hmac.update(view)
        return view.tobytes()

    def flush(self) -> bytes:  # the entry's HMAC, once every byte is authenticated
        self.drain()
        return super().flush()


class _AE2WriteFile(_zipfile._ZipWriteFile):
    """zipfile's entry writer without the CRC-32, which AE-2 entries store as 0, and
    with its ciphertext handed to the archive's writer thread in pooled buffers."""

    def write(self, data):
        return self.write_batch([data])

    def write_batch(self, pieces) -> int:
        """Write a list of pieces as one: one cipher call and one hand-off for all."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        nbytes = sum(map(len, pieces))
        if not nbytes:
            return 0
        self._file_size += nbytes
        if self._compressor:
            pieces = [self._compressor.compress(b"".join(pieces))]
            if not pieces[0]:
                return nbytes
        size = sum(map(len, pieces))
        sink = self._fileobj
        buffer = sink.buffer(size)
        data = self._encrypter.encrypt_pieces(pieces, buffer)
        self._compress_size += len(data)
        self._encrypter.drain = sink.drain
        sink.write_pooled(data, buffer, self._encrypter.hmac)
        return nbytes


class _WriterThread:
    """The archive's file, written on a helper thread.

    Per byte, a stored entry costs AES-CTR (the caller's thread) and HMAC-SHA1 and the
    write (this one); on two cores they overlap, and with the plaintext's SHA-256 and
    the vault's decryption on their own threads the stages are near even. Ciphertext travels
    in a small pool of reused buffers (a fresh megabyte per write costs its page
    faults): a buffer goes back to the pool once written, and ``buffer()`` waits for
    one, so the writer is never more than ``_POOL`` buffers behind (flat memory).
    Header bytes from zipfile are copied (they are small). An error in the thread
    (disk full) is raised at the next write or at ``finish()``, and the thread keeps
    recycling buffers, so the producer is never left waiting.

    It says it cannot seek, so zipfile writes each entry once, front to back (sizes
    in data descriptors after the data, as 7-Zip and every unzip read them) instead
    of seeking back to patch headers.
    """

    _POOL = 4

    def __init__(self, raw) -> None:
        self._raw = raw
        self.size = 0
        self._written = self._hinted = 0
        try:
            self._fileno = raw.fileno() if hasattr(os, "posix_fadvise") else None
        except (AttributeError, OSError):  # io.BytesIO in the tests
            self._fileno = None
        self._stage: mmap.mmap | None = None  # set while writing with O_DIRECT
        self._staged = 0
        self._direct = False
        self._io_error: BaseException | None = None
        self._go_direct()
        self._free: queue.Queue = queue.Queue()
        for _ in range(self._POOL):
            self._free.put(np.empty(0, dtype=np.uint8))
        self._todo: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="zip-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                try:
                    self._stop_io()
                    if self._error is None:
                        self._write_tail()
                except BaseException as exc:  # raised by finish()
                    self._error = exc
                finally:
                    if self._stage is not None:
                        self._spare.put(self._stage)
                        while not self._spare.empty():
                            # A failed write's traceback may still hold a view of a
                            # stage: then the collector frees it.
                            with contextlib.suppress(BufferError):
                                self._spare.get().close()
                return
            data, buffer, mac, done = item
            try:
                if self._error is None and data is not None:
                    if mac is not None:
                        mac.update(data)
                    self._write_all(data)
            except BaseException as exc:  # raised in the producer
                self._error = exc
            finally:
                if buffer is not None:
                    self._free.put(buffer)
                if done is not None:
                    done.set()

    # --- direct writes ------------------------------------------------------------
    #
    # The ZIP is written once and read at most once, a day later: through the page
    # cache, the kernel spent 1.2-1.7 ms of CPU per MiB on this machine copying it in
    # (dd measured 584-872 MB/s buffered against 1.3-1.7 GB/s and 0.13 ms per MiB with
    # O_DIRECT), three times the SHA-256 of the same bytes. So on a file that takes
    # O_DIRECT, whole aligned 1 MiB chunks go to the disk from two page-aligned staging
    # buffers (one more copy of the ciphertext, 0.1 ms per MiB), written in order by a
    # thread of their own; the unaligned tail is written without O_DIRECT at the end. A
    # file that refuses it (tmpfs, a pipe, a BytesIO in the tests), or a write that
    # fails with EINVAL or comes back short, gets ordinary writes, as before. Only
    # ciphertext is ever written, either way.

    def _direct_off(self) -> None:
        self._direct = False
        with contextlib.suppress(AttributeError, OSError, ValueError):
            fd = self._raw.fileno()
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            if flags & getattr(os, "O_DIRECT", 0):
                fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)

    def _go_direct(self) -> None:
        direct = getattr(os, "O_DIRECT", 0)
        try:
            fd = self._raw.fileno()
            if not direct or os.lseek(fd, 0, os.SEEK_CUR) % _DIRECT_ALIGN:
                return
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | direct)
        except (AttributeError, OSError, ValueError):  # io.BytesIO, a pipe, tmpfs
            return
        self._stage = mmap.mmap(-1, _DIRECT_CHUNK)  # anonymous memory is page-aligned
        self._direct = True
        # A direct write waits for the disk: a second stage and a thread of its own let
        # the next chunk be authenticated and staged meanwhile.
        self._spare: queue.Queue = queue.Queue()
        self._spare.put(mmap.mmap(-1, _DIRECT_CHUNK))
        self._io_todo: queue.Queue = queue.Queue(1)
        self._io = threading.Thread(target=self._run_io, name="zip-direct-io", daemon=True)
        self._io.start()

    def _run_io(self) -> None:
        while (stage := self._io_todo.get()) is not None:
            try:
                if self._io_error is None:
                    with memoryview(stage) as view:
                        self._write_raw(view, direct=True)
            except BaseException as exc:  # raised by the writer thread's next hand-over
                self._io_error = exc
            finally:
                self._spare.put(stage)

    def _stop_io(self) -> None:
        if self._stage is not None and self._io.is_alive():
            self._io_todo.put(None)
            self._io.join()
        if self._io_error is not None and self._error is None:
            self._error = self._io_error

    def _stage_write(self, data) -> None:
        with memoryview(data) as view, view.cast("B") as flat:
            taken = 0
            while taken < len(flat):
                n = min(len(flat) - taken, _DIRECT_CHUNK - self._staged)
                with memoryview(self._stage) as stage:
                    stage[self._staged : self._staged + n] = flat[taken : taken + n]
                self._staged += n
                taken += n
                if self._staged == _DIRECT_CHUNK:
                    if self._io_error is not None:
                        raise self._io_error
                    self._io_todo.put(self._stage)  # written in order: one I/O thread
                    self._stage = self._spare.get()  # waits while both are in use
                    self._staged = 0

    def _write_tail(self) -> None:
        if self._stage is None or not self._staged:
            return
        with memoryview(self._stage) as stage:
            aligned = self._staged // _DIRECT_ALIGN * _DIRECT_ALIGN
            if aligned and self._direct:
                self._write_raw(stage[:aligned], direct=True)
            else:
                aligned = 0
            self._direct_off()
            self._write_raw(stage[aligned : self._staged], direct=False)
            self._staged = 0

    def _write_raw(self, view: memoryview, *, direct: bool) -> None:
        done = 0
        while done < len(view):  # an unbuffered write may be short
            try:
                n = self._raw.write(view[done:])
            except OSError as exc:
                if not (direct and self._direct and exc.errno == errno.EINVAL):
                    raise
                self._direct_off()  # a file system that took the flag but not the write
                continue
            done += len(view) - done if n is None else n
            if self._direct and done % _DIRECT_ALIGN:
                self._direct_off()  # a short direct write leaves the offset unaligned

    def _write_all(self, data) -> None:
        if self._stage is not None:
            self._stage_write(data)
            return
        with memoryview(data) as view:
            self._write_raw(view, direct=False)
        self._written += len(data)
        if self._written - self._hinted >= _WRITEBACK_BYTES and self._fileno is not None:
            # Start writing back what is done (as the vault's evidence writer does): the
            # kernel then never holds gigabytes of dirty ZIP and throttles the export
            # in bursts, and the ZIP, read once a day later at most, leaves the cache.
            os.posix_fadvise(self._fileno, self._hinted, self._written - self._hinted,
                             os.POSIX_FADV_DONTNEED)  # fmt: skip
            self._hinted = self._written

    @property
    def failed(self) -> bool:
        return self._error is not None

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._finished:
            raise ValueError("write to a finished ZIP writer")

    def buffer(self, size: int) -> np.ndarray:
        self._check()
        buffer = self._free.get()
        # A buffer grows to the largest write seen (a batch), then is reused.
        return buffer if len(buffer) >= size else np.empty(size, dtype=np.uint8)

    def write_pooled(self, data: memoryview, buffer: np.ndarray, mac) -> None:
        """Authenticate ``data`` with ``mac`` (the entry's HMAC-SHA1) and write it, then
        return ``buffer`` to the pool."""
        self._check()
        self.size += len(data)
        self._todo.put((data, buffer, mac, None))

    def write(self, data) -> int:
        self._check()
        data = bytes(data)
        self.size += len(data)
        self._todo.put((data, None, None, None))
        return len(data)

    def tell(self) -> int:
        return self.size

    def seekable(self) -> bool:
        return False

    def seek(self, *args):
        raise io.UnsupportedOperation("seek")

    def drain(self) -> None:
        """Wait until everything handed over so far is written."""
        if self._finished:
            # Nothing is pending once finished (an entry left open and closed later by
            # the garbage collector gets here): raise rather than wait for ever.
            self._check()
        done = threading.Event()
        self._todo.put((None, None, None, done))
        done.wait()
        self._check()

    def flush(self) -> None:
        self.drain()
        self._raw.flush()

    def finish(self) -> None:
        """Stop the thread; raise its error, once (ZipFile.__del__ closes again)."""
        if self._finished:
            return
        self._finished = True
        self._todo.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class AESZipWriter(pyzipper.AESZipFile):
    """A write-only AES-256 ZipFile (AE-2 entries) with OpenSSL speed, writing ``file``
    on a helper thread; after ``close()``, ``size`` is the ZIP's size."""

    zipwritefile_cls = _AE2WriteFile

    def __init__(self, file, passphrase: str) -> None:
        self._sink = _WriterThread(file)
        try:
            super().__init__(
                self._sink,
                "w",
                compression=pyzipper.ZIP_DEFLATED,
                encryption=pyzipper.WZ_AES,
                encryption_kwargs={"nbits": 256, "force_wz_aes_version": zipfile_aes.WZ_AES_V2},
            )
        except BaseException:
            self._sink.finish()
            raise
        self.setpassword(passphrase.encode())
        self.size = 0

    def get_encrypter(self):
        return _FastAESEncrypter(pwd=self.pwd, **self.encryption_kwargs)

    def close(self) -> None:
        if self._sink.failed:
            # The file is lost (the caller deletes it): write no end record into it, and
            # do not refuse to close because the failed entry never finished.
            self._writing = False
            self._didModify = False
        try:
            super().close()
        finally:
            self._sink.finish()
        self.size = self._sink.size
