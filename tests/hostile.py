"""Makers of hostile files for the hostile-input tests: generated here, never stored in the repository.

Each maker writes a small file whose header, archive directory or structure lies, or that
expands into far more than it weighs. The tests check that realtime_nmf refuses them
with one clear error (or gives a valid, clearly stated result) without allocating what
they claim, without hanging and without a traceback.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------
# running the command


def rtnmf(*args, timeout=120, cwd=None, env=None, memory_limit=None):
    """Run ``python -m realtime_nmf ARGS`` in a fresh interpreter; return the completed process.

    ``memory_limit`` (bytes) caps the child's address space, so a test can prove that a
    small hostile file does not make it allocate what the file claims.
    """
    environment = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    environment.update(env or {})

    def limit():  # pragma: no cover - runs in the child
        if memory_limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run([sys.executable, "-m", "realtime_nmf", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=environment, preexec_fn=limit if memory_limit else None)


def assert_one_line_error(result, pattern: str | None = None):
    """The command failed the way every user error must: exit 1, one line ``rtnmf: error: ...``, no traceback."""
    import re

    assert result.returncode == 1, f"exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rtnmf: error: "), result.stderr
    if pattern is not None:
        assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def cli(args, capfd):
    """Run the command in this process (the same ``main`` that ``python -m realtime_nmf`` runs); (code, out, err)."""
    from realtime_nmf.cli import main

    code = main([str(a) for a in args])
    captured = capfd.readouterr()
    return code, captured.out, captured.err


def assert_cli_error(args, capfd, pattern: str | None = None) -> str:
    """In-process variant of :func:`assert_one_line_error` (any stray exception fails the test with its traceback)."""
    import re

    code, _, err = cli(args, capfd)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("rtnmf: error: "), err
    if pattern is not None:
        assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


# --------------------------------------------------------------------------------------
# dictionaries (.npz archives)


def npy_bytes(array: np.ndarray) -> bytes:
    """An array in .npy format, as np.save writes it."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape, dtype="<f4", fortran_order=False) -> bytes:
    """Only the .npy header announcing an array of ``shape`` (no data)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str, "fortran_order": fortran_order, "shape": tuple(shape)})
    return buffer.getvalue()  # the magic string included


def write_zip(path: Path, members: dict, compression=zipfile.ZIP_STORED) -> Path:
    """A zip archive whose members are ``name -> bytes`` (or an iterable of byte chunks, streamed)."""
    with zipfile.ZipFile(path, "w", compression=compression, allowZip64=True) as archive:
        for name, data in members.items():
            if isinstance(data, (bytes, bytearray)):
                archive.writestr(name, bytes(data))
            else:
                with archive.open(name, "w", force_zip64=True) as handle:
                    for chunk in data:
                        handle.write(chunk)
    return path


def metadata_text(dictionary, **changes) -> str:
    """The JSON metadata of ``dictionary`` with some fields replaced (``None`` values are kept as null)."""
    meta = dictionary.metadata()
    meta.update(changes)
    return json.dumps(meta)


def dictionary_npz(path: Path, W, text: str, compression=zipfile.ZIP_STORED, extra: dict | None = None) -> Path:
    """A dictionary archive from raw parts: any W, any metadata text."""
    members = {"W.npy": npy_bytes(np.asarray(W)), "metadata.npy": npy_bytes(np.array(text))}
    members.update(extra or {})
    return write_zip(path, members, compression)


def set_declared_size(path: Path, member: str, size: int) -> Path:
    """Rewrite the uncompressed size an archive declares for ``member`` (local header and central directory)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    position = 0
    while True:
        position = data.find(b"PK\x03\x04", position)
        if position < 0:
            break
        name_length = struct.unpack_from("<H", data, position + 26)[0]
        if data[position + 30 : position + 30 + name_length] == name:
            struct.pack_into("<I", data, position + 22, size)
        position += 4
    position = 0
    while True:
        position = data.find(b"PK\x01\x02", position)
        if position < 0:
            break
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == name:
            struct.pack_into("<I", data, position + 24, size)
        position += 4
    path.write_bytes(bytes(data))
    return path


def zeros_deflated(n_bytes: int, prefix: bytes = b"") -> bytes:
    """A raw deflate stream that inflates to ``prefix`` and ``n_bytes`` zero bytes (about 1/1000 of that)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(min(n_bytes, 16 << 20))
    parts = [compressor.compress(prefix)]
    left = n_bytes
    while left > 0:
        parts.append(compressor.compress(chunk[: min(left, len(chunk))]))
        left -= min(left, len(chunk))
    parts.append(compressor.flush())
    return b"".join(parts)


def raw_zip(path: Path, entries: list[dict]) -> Path:
    """A zip archive written field by field, so every size, CRC and flag can lie.

    Each entry: ``name``, ``data`` (the stored bytes, already compressed for deflate),
    and optionally ``method`` (0 stored, 8 deflate, ...), ``size`` (the declared
    uncompressed size, default ``len(data)``), ``crc`` (default that of ``data``) and
    ``flags`` (bit 0: encrypted).
    """
    out = io.BytesIO()
    central = []
    for entry in entries:
        name, data = entry["name"].encode(), entry["data"]
        method, flags = entry.get("method", 0), entry.get("flags", 0)
        size, crc = entry.get("size", len(data)), entry.get("crc", zlib.crc32(data))
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0x21, crc, len(data), size, len(name), 0) + name + data)
        central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, method, 0, 0x21, crc, len(data), size, len(name),
                                   0, 0, 0, 0, 0, offset) + name)
    start = out.tell()
    out.write(b"".join(central))
    size, count = out.tell() - start, len(central)
    if count > 0xFFFF:  # zip64 end records carry the real count
        record = out.tell()
        out.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start))
        out.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, record, 1))
        count = 0xFFFF
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, start, 0))
    path.write_bytes(out.getvalue())
    return path


def stored(name: str, data: bytes) -> dict:
    """A :func:`raw_zip` entry stored as is."""
    return {"name": name, "data": data}


def deflated(name: str, data: bytes) -> dict:
    """A :func:`raw_zip` entry compressed with deflate (honest sizes and CRC)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return {"name": name, "data": compressor.compress(data) + compressor.flush(), "method": 8, "size": len(data), "crc": zlib.crc32(data)}


# --------------------------------------------------------------------------------------
# audio files


def wav_header(*, sample_rate: int, channels: int = 1, bits: int = 16, data_size: int, format_tag: int = 1) -> bytes:
    """A canonical 44-byte RIFF/WAVE header; the sizes are whatever the caller claims."""
    block_align = channels * bits // 8 & 0xFFFF
    riff_size = min(0xFFFFFFFF, 36 + data_size)
    return (b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, format_tag, channels, sample_rate, sample_rate * block_align & 0xFFFFFFFF, block_align, bits) +
            b"data" + struct.pack("<I", data_size))


def write_wav_claiming(path: Path, samples: np.ndarray, *, sample_rate: int, data_size: int | None = None) -> Path:
    """A 16-bit mono WAV holding ``samples`` whose header states ``sample_rate`` (and optionally a data size)."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    path.write_bytes(wav_header(sample_rate=sample_rate, data_size=len(pcm) if data_size is None else data_size) + pcm)
    return path


def sparse_wav(path: Path, n_bytes: int, *, sample_rate: int = 4000) -> Path:
    """A WAV file of ``n_bytes`` (sparse: no disk used) whose data chunk is left open (size 0xFFFFFFFF)."""
    with open(path, "wb") as handle:
        handle.write(wav_header(sample_rate=sample_rate, data_size=0xFFFFFFFF))
        handle.truncate(n_bytes)
    return path


def flac_claiming(path: Path, samples: np.ndarray, sample_rate: int, total_samples: int) -> Path:
    """A FLAC file holding ``samples`` whose STREAMINFO claims ``total_samples`` (36-bit field)."""
    sf.write(path, samples, sample_rate, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    value = int.from_bytes(data[18:26], "big")
    value = (value & ~((1 << 36) - 1)) | (total_samples & ((1 << 36) - 1))
    data[18:26] = value.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def mp3_claiming(path: Path, samples: np.ndarray, sample_rate: int, frames: int | None = None, keep_bytes: float = 1.0) -> Path:
    """An MP3 holding ``samples`` whose Xing header claims ``frames`` MPEG frames; ``keep_bytes`` < 1 truncates it."""
    sf.write(path, samples, sample_rate, format="MP3")
    data = bytearray(path.read_bytes())
    if frames is not None:
        position = max(data.find(b"Xing"), data.find(b"Info"))
        assert position > 0 and struct.unpack_from(">I", data, position + 4)[0] & 1, "no Xing frame count"
        struct.pack_into(">I", data, position + 8, frames)
    path.write_bytes(bytes(data[: int(len(data) * keep_bytes)]))
    return path


def decoded_length(path: Path) -> int:
    """How many sample frames a file really decodes to (counted, not taken from its header)."""
    import realtime_nmf.audio as audio

    return sum(block.shape[0] for block in audio.read_blocks(path, 8192))
