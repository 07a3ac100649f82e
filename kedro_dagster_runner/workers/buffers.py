"""Handoff data on a local filesystem: pickle protocol 5 with out-of-band buffers, read back
through a private memory map.

Large arrays and frames (numpy, pandas, pyarrow) hand their memory to pickle as out-of-band
buffers. :func:`dump` writes the pickle stream and then each buffer, raw and 64-byte aligned, in
one file; :func:`load` maps the file copy-on-write and gives pickle views of the mapping, so an
array comes back without being copied or decoded (its pages are read when used, and writing to
it changes the reader's copy only). On tmpfs (``/dev/shm``) that makes a 200 MB array cross
processes at memory speed. The file may be deleted while the data is in use: the mapping stays.

File layout: ``MAGIC``, the number of buffers, the length of the pickle stream and of each buffer
(little-endian 64-bit), the pickle stream, then each buffer at the next 64-byte boundary.
"""

from __future__ import annotations

import mmap
import pickle
import struct
from dataclasses import dataclass
from typing import IO, Any

import cloudpickle

MAGIC = b"KDRBUF1\n"
_ALIGN = 64
_WORD = struct.Struct("<Q")


def _padding(offset: int) -> int:
    return -offset % _ALIGN


@dataclass(frozen=True)
class Pickled:
    """``data`` pickled: its pickle stream and the raw memory of its out-of-band buffers."""

    payload: bytes
    raws: list[memoryview]

    @property
    def nbytes(self) -> int:
        """About the size of the file :func:`write` makes."""
        return len(self.payload) + sum(raw.nbytes + _ALIGN for raw in self.raws)


def pickle_out_of_band(data: Any) -> Pickled:
    """Pickle ``data`` with protocol 5, its large buffers kept apart (not copied)."""
    buffers: list[pickle.PickleBuffer] = []
    payload = cloudpickle.dumps(data, protocol=5, buffer_callback=buffers.append)
    return Pickled(payload, [buffer.raw() for buffer in buffers])


def write(pickled: Pickled, stream: IO[bytes]) -> None:
    """Write ``pickled`` to the binary ``stream`` (see the module docstring)."""
    raws = pickled.raws
    header = MAGIC + _WORD.pack(len(raws)) + _WORD.pack(len(pickled.payload))
    header += b"".join(_WORD.pack(raw.nbytes) for raw in raws)
    stream.write(header)
    stream.write(pickled.payload)
    offset = len(header) + len(pickled.payload)
    for raw in raws:
        pad = _padding(offset)
        stream.write(b"\0" * pad)
        stream.write(raw)
        offset += pad + raw.nbytes


def dump(data: Any, stream: IO[bytes]) -> None:
    """Write ``data`` to the binary ``stream`` (see the module docstring)."""
    write(pickle_out_of_band(data), stream)


def is_buffered(head: bytes) -> bool:
    """True when a file starting with ``head`` was written by :func:`dump`."""
    return head.startswith(MAGIC)


def load(path: str) -> Any:
    """The data :func:`dump` wrote to the local file ``path``, its buffers views of a private
    (copy-on-write) memory map of the file."""
    with open(path, "rb") as stream:
        mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_COPY)
    view = memoryview(mapped)
    position = len(MAGIC)
    (count,) = _WORD.unpack_from(view, position)
    (payload_size,) = _WORD.unpack_from(view, position + _WORD.size)
    sizes = [
        _WORD.unpack_from(view, position + (2 + index) * _WORD.size)[0] for index in range(count)
    ]
    offset = position + (2 + count) * _WORD.size
    payload = view[offset : offset + payload_size]
    offset += payload_size
    views = []
    for size in sizes:
        offset += _padding(offset)
        views.append(view[offset : offset + size])
        offset += size
    return pickle.loads(payload, buffers=views)
