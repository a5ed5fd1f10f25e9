"""The fast WinZip AES-256 writer produces archives pyzipper's own decrypter reads."""

import errno
import fcntl
import io
import os
import zipfile

import pytest
import pyzipper

from police.aeszip import AESZipWriter

SIZES = [0, 1, 15, 16, 17, 65536, 1024 * 1024, 3 * 1024 * 1024 + 5]


def write(entries, passphrase, piece):
    out = io.BytesIO()
    with AESZipWriter(out, passphrase) as archive:
        for name, (data, stored) in entries.items():
            info = archive.zipinfo_cls(name, date_time=(2026, 12, 3, 0, 0, 0))
            info.compress_type = pyzipper.ZIP_STORED if stored else pyzipper.ZIP_DEFLATED
            with archive.open(info, "w") as sink:
                for i in range(0, len(data), piece):
                    sink.write(data[i : i + piece])
    return out.getvalue()


@pytest.mark.parametrize("piece", [7777, 65536, 1024 * 1024])
def test_every_size_and_chunking_round_trips_through_pyzipper(piece):
    entries = {f"E{i:03d}": (os.urandom(n), i % 2 == 0) for i, n in enumerate(SIZES)}
    entries["E100"] = (b"texto comprimible " * 50000, False)
    data = write(entries, "ABCD-EFGH-2345", piece)
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(b"ABCD-EFGH-2345")
        assert archive.testzip() is None  # every entry's HMAC checks
        for name, (content, _stored) in entries.items():
            info = archive.getinfo(name)
            assert info.wz_aes_strength == 3 and info.wz_aes_version == 2  # AES-256, AE-2
            assert archive.read(name) == content


def test_a_wrong_passphrase_and_a_flipped_byte_are_refused():
    data = bytearray(write({"E001": (os.urandom(100_000), True)}, "right", 65536))
    with pyzipper.AESZipFile(io.BytesIO(bytes(data))) as archive:
        archive.setpassword(b"wrong")
        with pytest.raises(RuntimeError):
            archive.read("E001")
    data[5000] ^= 1
    with pyzipper.AESZipFile(io.BytesIO(bytes(data))) as archive:
        archive.setpassword(b"right")
        with pytest.raises(pyzipper.BadZipFile):
            archive.read("E001")


class _DiskFull(io.BytesIO):
    def write(self, data):
        if self.tell() + len(data) > 200_000:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_failing_disk_is_raised_in_the_writer_and_nothing_hangs():
    pieces = [os.urandom(65536) for _ in range(16)]
    archive = AESZipWriter(_DiskFull(), "pw")
    info = archive.zipinfo_cls("E001", date_time=(2026, 12, 3, 0, 0, 0))
    info.compress_type = pyzipper.ZIP_STORED
    sink = archive.open(info, "w")
    # The writer thread fails at about the fourth batch; a later write (or the entry's
    # close, which waits for its HMAC) raises it here.
    with pytest.raises(OSError, match="No space"):
        for _ in range(20):
            sink.write_batch(pieces)
        sink.close()
    with pytest.raises(OSError, match="No space"):
        archive.close()  # the thread is stopped either way
    # The entry left open (closed later, as the garbage collector would) raises at once
    # instead of waiting for a writer that is gone.
    with pytest.raises(OSError, match="No space"):
        sink.close()


def test_the_size_is_the_zip_as_written():
    out = io.BytesIO()
    with AESZipWriter(out, "pw") as archive:
        archive.writestr(archive.zipinfo_cls("E001", date_time=(2026, 12, 3, 0, 0, 0)), b"x" * 5000)
    data = out.getvalue()
    assert archive.size == len(data) > 5000


class _ShortWrites(io.BytesIO):
    def write(self, data):
        return super().write(bytes(data)[:1000])  # as an unbuffered file may


def test_short_writes_are_resumed():
    out = _ShortWrites()
    content = os.urandom(300_000)
    with AESZipWriter(out, "pw") as archive:
        info = archive.zipinfo_cls("E001", date_time=(2026, 12, 3, 0, 0, 0))
        with archive.open(info, "w") as sink:
            sink.write_batch([content[:100_000], content[100_000:]])
    with pyzipper.AESZipFile(io.BytesIO(out.getvalue())) as archive:
        archive.setpassword(b"pw")
        assert archive.read("E001") == content


def _entries():
    # Over two staging chunks in all, and a total that is no multiple of the alignment.
    return {
        "E001": (os.urandom(1024 * 1024 + 12345), True),
        "E002": (os.urandom(70001), True),
        "E003": (b"texto comprimible " * 3000, False),
    }


def _read_back(path, entries):
    with zipfile.ZipFile(path) as plain:  # the standard library reads the layout
        assert {i.filename: i.file_size for i in plain.infolist()} == {
            name: len(data) for name, (data, _stored) in entries.items()
        }
    with pyzipper.AESZipFile(path) as archive:
        archive.setpassword(b"pw")
        assert archive.testzip() is None
        for name, (data, _stored) in entries.items():
            assert archive.read(name) == data


def _write_file(raw, entries):
    archive = AESZipWriter(raw, "pw")
    direct = archive._sink._stage is not None
    with archive:
        for name, (data, stored) in entries.items():
            info = archive.zipinfo_cls(name, date_time=(2026, 12, 3, 0, 0, 0))
            info.compress_type = pyzipper.ZIP_STORED if stored else pyzipper.ZIP_DEFLATED
            with archive.open(info, "w") as sink:
                for i in range(0, len(data), 300_000):
                    sink.write_batch([data[i : i + 300_000]])
    return direct, archive


def test_a_real_file_is_written_with_o_direct_and_reads_back(tmp_path):
    entries = _entries()
    path = tmp_path / "export.zip"
    with open(path, "wb", buffering=0) as raw:
        direct, archive = _write_file(raw, entries)
        # The unaligned tail went through the page cache: the flag is off again.
        assert not fcntl.fcntl(raw.fileno(), fcntl.F_GETFL) & os.O_DIRECT
    assert direct  # tmp_path is on a disk file system that takes O_DIRECT
    assert archive.size == path.stat().st_size
    _read_back(path, entries)


class _RefusesDirect(io.FileIO):
    """A file system that accepts the O_DIRECT flag but refuses the writes."""

    def write(self, data):
        if fcntl.fcntl(self.fileno(), fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return super().write(data)


class _ShortDirect(io.FileIO):
    """Direct writes that come back short and unaligned."""

    def write(self, data):
        if fcntl.fcntl(self.fileno(), fcntl.F_GETFL) & os.O_DIRECT:
            return super().write(bytes(data)[:1000])
        return super().write(data)


@pytest.mark.parametrize("kind", [_RefusesDirect, _ShortDirect])
def test_a_refused_or_short_direct_write_falls_back_to_ordinary_writes(tmp_path, kind):
    entries = _entries()
    path = tmp_path / "export.zip"
    with kind(path, "wb") as raw:
        _, archive = _write_file(raw, entries)
    assert archive.size == path.stat().st_size
    _read_back(path, entries)


class _DirectDiskFull(io.FileIO):
    def write(self, data):
        if self.tell() + len(data) > 3 * 1024 * 1024:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_failing_disk_under_direct_writes_is_raised_and_nothing_hangs(tmp_path):
    pieces = [os.urandom(65536) for _ in range(16)]
    with _DirectDiskFull(tmp_path / "export.zip", "wb") as raw:
        archive = AESZipWriter(raw, "pw")
        assert archive._sink._stage is not None  # the direct path, with its I/O thread
        info = archive.zipinfo_cls("E001", date_time=(2026, 12, 3, 0, 0, 0))
        info.compress_type = pyzipper.ZIP_STORED
        sink = archive.open(info, "w")
        with pytest.raises(OSError, match="No space"):
            for _ in range(20):
                sink.write_batch(pieces)
            sink.close()
        with pytest.raises(OSError, match="No space"):
            archive.close()
        assert not archive._sink._io.is_alive()
