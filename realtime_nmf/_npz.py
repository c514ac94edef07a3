"""Reading ``.npz`` archives from untrusted files, member by member, checking every claim first.

:func:`numpy.load` trusts an archive: it inflates a member whole whatever its size and
allocates whatever shape a member's header announces. This reader, used for dictionary
files, checks before it reads or allocates anything:

1. the file is a regular file of at most ``max_file_bytes`` (:func:`realtime_nmf._files.check_input_file`);
2. it starts like a zip archive (else it says what the file looks like: text, a WAV file,
   a single ``.npy`` array, a Python pickle...);
3. the archive's directory (read from its end record) lists at most ``max_members``
   members in at most 1 MiB;
4. a member is neither encrypted nor compressed by a method zipfile lacks, and the size
   it declares, inflated, is within the caller's limit;
5. the ``.npy`` header's dtype and shape pass the caller's check, and the data they
   announce is exactly what the member declares;
6. exactly that many bytes are inflated (zipfile never gives more than declared), and
   the member's checksum is verified at its end.

Object arrays (pickles) are refused from their header, without being read.
"""

from __future__ import annotations

import lzma
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from ._values import format_size

__all__ = ["NpzReader", "describe_foreign", "why_not_a_dictionary"]

_SUPPORTED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
_MAX_DIRECTORY_BYTES = 1 << 20
_MAX_NPY_HEADER = 1 << 14


def describe_foreign(head: bytes) -> str:
    """What a file that is not a zip archive looks like, from its first bytes (for the message)."""
    if head.startswith(b"\x93NUMPY"):
        return "it is a single NumPy array (.npy), not an .npz archive"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "it is a Python pickle, which is never loaded (it could run code)"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "it is not an .npz archive (it looks like a WAV audio file)"
    if head.startswith((b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"FORM")):
        return "it is not an .npz archive (it looks like an audio file)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\n\r\t" for c in text[:-4] or text):
        return "it is not an .npz archive (it looks like text)"
    return "it is not an .npz archive"


class NpzReader:
    """An open ``.npz`` archive whose members are read with limits.

    Parameters
    ----------
    handle : binary file
        Open for reading, positioned anywhere.
    size : int
        The file's size in bytes.
    name : str
        How messages name the file.
    error : exception class
        Raised (with one line) for every problem.
    max_members : int
        Most members the archive's directory may list.
    """

    def __init__(self, handle, size: int, name: str, error: type[Exception], *, max_members: int = 16):
        self.name, self.error = name, error
        what = f"{name} is not a realtime_nmf dictionary"
        handle.seek(0)
        head = handle.read(16)
        if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            raise error(f"{what}: {describe_foreign(head)}")
        entries, directory_size = self._end_record(handle, size, what)
        if entries > max_members:
            raise error(f"{what}: it holds {entries} members; a dictionary holds W.npy and metadata.npy")
        if directory_size > _MAX_DIRECTORY_BYTES:
            raise error(f"{what}: its directory is {format_size(directory_size)}, far more than a dictionary's")
        try:
            handle.seek(0)
            self._archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise error(f"{what}, or it is truncated or corrupt ({type(exc).__name__}: {exc})") from None
        self.names = [info.filename for info in self._archive.infolist()]

    def _end_record(self, handle, size: int, what: str) -> tuple[int, int]:
        """Number of members and size of the directory, from the end-of-archive record (and its zip64 form)."""
        tail_size = min(size, 22 + 65535)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
        position = tail.rfind(b"PK\x05\x06")
        if position < 0 or position + 22 > len(tail):
            raise self.error(f"{what}, or it is truncated or corrupt (the archive's end record is missing)")
        entries, directory_size = struct.unpack_from("<HL", tail, position + 10)
        if entries == 0xFFFF or directory_size == 0xFFFFFFFF:  # zip64: the real counts are in the zip64 end record
            locator = position - 20
            if locator < 0 or tail[locator : locator + 4] != b"PK\x06\x07":
                raise self.error(f"{what}, or it is truncated or corrupt (a zip64 record is missing)")
            offset = struct.unpack_from("<Q", tail, locator + 8)[0]
            if offset + 56 > size:
                raise self.error(f"{what}, or it is truncated or corrupt (a zip64 record points outside the file)")
            handle.seek(offset)
            record = handle.read(56)
            if record[:4] != b"PK\x06\x06":
                raise self.error(f"{what}, or it is truncated or corrupt (a zip64 record is damaged)")
            entries, directory_size = struct.unpack_from("<QQ", record, 32)
        return entries, directory_size

    def __enter__(self) -> "NpzReader":
        return self

    def __exit__(self, *exc) -> None:
        self._archive.close()

    def read_array(self, member: str, *, max_bytes: int, check: Callable[[np.dtype, tuple, str], None]) -> np.ndarray:
        """Read the ``.npy`` array stored as ``member``.

        Parameters
        ----------
        member : str
            e.g. ``"W.npy"``.
        max_bytes : int
            Largest inflated size the member may declare.
        check : callable(dtype, shape, member)
            Raises (with the caller's message) unless the header's dtype and shape are
            acceptable; called before any data is read.
        """
        error = self.error
        info = self._archive.getinfo(member)
        quoted = repr(member)
        if info.flag_bits & 0x1:
            raise error(f"{self.name}: {quoted} is encrypted; a dictionary is never encrypted")
        if info.compress_type not in _SUPPORTED_METHODS:
            raise error(f"{self.name}: {quoted} is compressed with method {info.compress_type}, which realtime_nmf does not read")
        if info.file_size > max_bytes:
            raise error(f"{self.name}: {quoted} would inflate to {format_size(info.file_size)}; a dictionary's "
                        f"{member.rsplit('.', 1)[0]} is at most {format_size(max_bytes)}")
        try:
            with self._archive.open(info) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream, max_header_size=_MAX_NPY_HEADER)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream, max_header_size=_MAX_NPY_HEADER)
                else:
                    raise ValueError(f"unknown .npy version {version}")
                if dtype.hasobject:
                    raise error(f"{self.name}: {member.rsplit('.', 1)[0]} holds Python objects (pickled objects), which are never "
                                "loaded: they could run code")
                check(dtype, shape, member)
                n_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                header_bytes = stream.tell()
                if header_bytes + n_bytes != info.file_size:
                    raise error(f"{self.name}: {member.rsplit('.', 1)[0]} announces {format_size(n_bytes)} of data (shape {shape}, "
                                f"{dtype}) but {quoted} holds {format_size(max(0, info.file_size - header_bytes))}")
                data = stream.read(n_bytes)
                if len(data) != n_bytes:
                    raise error(f"{self.name}: {quoted} is truncated")
                stream.read(1)  # at the end of the member: zipfile checks its CRC-32 here
        except zipfile.BadZipFile as exc:
            if "CRC" in str(exc):
                raise error(f"{self.name}: {quoted} is corrupt (its checksum does not match)") from None
            raise error(f"{self.name} is truncated or corrupt ({exc})") from None
        except (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError, NotImplementedError) as exc:
            if isinstance(exc, error):
                raise
            raise error(f"{self.name} is truncated or corrupt ({type(exc).__name__}: {str(exc)[:200]})") from None
        array = np.frombuffer(data, dtype=dtype)
        return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


#: File signatures of audio formats a user may give where a dictionary belongs.
_AUDIO_SIGNATURES = ((b"RIFF", "a WAV file"), (b"RF64", "a WAV file"), (b"fLaC", "a FLAC file"), (b"OggS", "an OGG file"),
                     (b"ID3", "an MP3 file"), (b"\xff\xfb", "an MP3 file"), (b"\xff\xf3", "an MP3 file"), (b"FORM", "an AIFF file"))


def why_not_a_dictionary(path: Path) -> str:
    """Why ``path`` cannot be a dictionary (an ``.npz`` is a zip archive), or ``""`` when it may be one."""
    if not path.is_file():
        return "it is not a regular file"
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if head.startswith(b"PK"):
        return ""
    for signature, kind in _AUDIO_SIGNATURES:
        if head.startswith(signature):
            return (f"it is {kind} (audio); a dictionary is learned from audio: "
                    f"rtnmf train {path} -o {path.with_suffix('.npz').name}")
    text = head.lstrip()
    if text.startswith((b"#", b"version:", b"dictionary:", b"description:")):
        return "it is a text file (a preset?); give presets with --preset and dictionaries (.npz files) with --dictionary"
    return describe_foreign(head) + "; dictionaries are written by rtnmf train"
