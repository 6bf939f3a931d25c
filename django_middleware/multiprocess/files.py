"""The files of a multiprocess directory: their names, their format, read in bulk and written whole.

prometheus_client's format (its mmap_dict.py): a file starts with a 4-byte `used` length and 4
bytes of padding, then entries: a 4-byte key length, the UTF-8 JSON key padded to 8-byte
alignment, a value double and a timestamp double. prometheus_client reads only up to `used`; a
merged file keeps its journal (which claimed files it already holds) after that point, so
prometheus_client reads merged files unchanged.

Names: `<type>_<pid>.db` (prometheus_client's), `<type>_merged.db`, a claimed dead file
`<type>_<pid>.<token>.merging`, and `.tmp` and `.unreadable` beside them.

Own code rather than MmapedDict because MmapedDict parses one entry per Python call and grows a
mapping key by key; here the layout of a file is parsed once and its values are then read with
one C call per file (see layouts.py), and a merged file is written in one go.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import secrets
import struct
from collections import defaultdict
from collections.abc import Iterator
from typing import BinaryIO

from painel import new_series

from . import admitted
from .combine import rule_for
from .lock import LOCK_NAME

HEADER_SIZE = 8
_INT = struct.Struct("i")
_ENTRY_HEAD = struct.Struct("i")
# An entry's value and timestamp, after its key.
VALUE_AND_TIMESTAMP = struct.Struct("dd")
_JOURNAL_MAGIC = b"\npainel-merged-journal\n"

MERGED_PID = "merged"
DB_SUFFIX = ".db"
CLAIMED_SUFFIX = ".merging"
TMP_SUFFIX = ".tmp"
UNREADABLE_SUFFIX = ".unreadable"


class CorruptFile(ValueError):
    """A file whose entries run past its `used` length or whose keys are not JSON."""


def key_padding(length: int) -> int:
    """Bytes after a key of `length` bytes, so that its value starts on an 8-byte boundary."""
    return 8 - (length + 4) % 8


def directory(path: str | None) -> str:
    """The multiprocess directory: `path`, else PROMETHEUS_MULTIPROC_DIR; it must exist."""
    path = path or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path or not os.path.isdir(path):
        raise ValueError(
            f"PROMETHEUS_MULTIPROC_DIR must name an existing directory (got {path!r}): create "
            "it and export it before gunicorn starts"
        )
    return path


def split_db_name(filename: str) -> tuple[str, str] | None:
    """`gauge_livesum_123.db` -> ("gauge_livesum", "123"); None for names that are not ours."""
    if not filename.endswith(DB_SUFFIX):
        return None
    prefix, sep, pid = filename[: -len(DB_SUFFIX)].rpartition("_")
    return (prefix, pid) if sep and prefix else None


def new_claim_token(generation: int) -> str:
    """The token of one claim: the generation orders claims (the last dead worker's gauge wins
    in mode "all"); the random part keeps names unique even if the lock file was reset."""
    return f"{generation:012d}-{secrets.token_hex(4)}"


def claimed_name(db_name: str, token: str) -> str:
    """`counter_123.db` -> `counter_123.<token>.merging`: the name a merge renames it to."""
    return f"{db_name[: -len(DB_SUFFIX)]}.{token}{CLAIMED_SUFFIX}"


def claim_token(claimed: str) -> str:
    """The token in a claimed file's name; tokens sort in the order of their claims."""
    return claimed[: -len(CLAIMED_SUFFIX)].rpartition(".")[2]


def split_claimed_name(filename: str) -> tuple[str, str] | None:
    """`counter_123.<token>.merging` -> ("counter", "123"): a dead file a merge has claimed."""
    if not filename.endswith(CLAIMED_SUFFIX):
        return None
    stem = filename[: -len(CLAIMED_SUFFIX)].rpartition(".")[0]
    return split_db_name(stem + DB_SUFFIX)


def claimed_files(path: str) -> dict[str, list[str]]:
    """Claimed file names by type prefix, for merges and for scrapes after a crashed merge."""
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for name in os.listdir(path):
        parsed = split_claimed_name(name)
        if parsed is not None and rule_for(parsed[0]) is not None:
            by_prefix[parsed[0]].append(name)
    return by_prefix


def merged_name(prefix: str) -> str:
    return f"{prefix}_{MERGED_PID}{DB_SUFFIX}"


def remove_stale_files(path: str) -> None:
    """Empty the directory of an earlier run's files (gunicorn's on_starting, no worker yet)."""
    suffixes = (DB_SUFFIX, CLAIMED_SUFFIX, TMP_SUFFIX, UNREADABLE_SUFFIX)
    for name in os.listdir(path):
        if name.endswith(suffixes) or name in (LOCK_NAME, new_series.FILE_NAME, admitted.FILE_NAME):
            os.unlink(os.path.join(path, name))


@contextlib.contextmanager
def mapped(path: str) -> Iterator[tuple[int, mmap.mmap | bytes, int]]:
    """(inode, contents, used length) of a file, mapped read-only: no copy of the file.

    Views of the mapping must be released before the block ends (the mapping closes with it).
    """
    with open(path, "rb") as f:
        # `used` first: a worker grows its file before it writes entries and then `used`, so
        # a mapping made after this read covers it. Read after mapping, a worker adding
        # series at that moment could show a `used` past the mapping: a healthy file skipped.
        head = os.pread(f.fileno(), HEADER_SIZE, 0)
        stat = os.fstat(f.fileno())
        if len(head) < HEADER_SIZE or stat.st_size < HEADER_SIZE:
            yield stat.st_ino, b"", 0
            return
        (used,) = _INT.unpack_from(head)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if used > len(mm) or used % 8:
                raise CorruptFile(f"{path}: used length {used} does not fit the file")
            yield stat.st_ino, mm, max(used, HEADER_SIZE)


def read_used(path: str) -> bytes:
    """The `used` part of a file (header and entries), or b"" for a file not written yet."""
    with open(path, "rb") as f:
        return read_used_from(f)


def read_used_from(f: BinaryIO) -> bytes:
    head = f.read(HEADER_SIZE)
    if len(head) < HEADER_SIZE:
        return b""
    (used,) = _INT.unpack_from(head)
    if used <= HEADER_SIZE:
        return head
    data = head + f.read(used - HEADER_SIZE)
    if len(data) != used or used % 8:
        raise CorruptFile(f"{f.name}: used length {used} does not match the file")
    return data


def parse_layout(
    data: bytes | mmap.mmap, start: int = HEADER_SIZE, end: int | None = None
) -> tuple[list[bytes], list[int]]:
    """Keys and the 8-byte word index of each value, for entries from `start` to `end`."""
    keys: list[bytes] = []
    words: list[int] = []
    end = len(data) if end is None else end
    pos = start
    unpack = _ENTRY_HEAD.unpack_from
    value_size = VALUE_AND_TIMESTAMP.size
    while pos < end:
        (length,) = unpack(data, pos)
        value_pos = pos + 4 + length + key_padding(length)
        if length <= 0 or value_pos + value_size > end:
            raise CorruptFile(f"entry at byte {pos} runs past the used length {end}")
        keys.append(data[pos + 4 : pos + 4 + length])
        words.append(value_pos // 8)
        pos = value_pos + value_size
    return keys, words


def decode_key(key: bytes) -> tuple[str, str, dict[str, str], str]:
    """(metric name, sample name, labels, help) from prometheus_client's JSON key."""
    try:
        metric_name, name, labels, documentation = json.loads(key)
        if not isinstance(labels, dict):
            raise TypeError("labels are not an object")
    except (ValueError, TypeError) as exc:
        raise CorruptFile(f"key {key[:80]!r} is not a metric key: {exc}") from exc
    return metric_name, name, labels, documentation


def read_entries(path: str) -> dict[bytes, tuple[float, float]]:
    """Every key of a file with its (value, timestamp); used by merges, not by scrapes."""
    data = read_used(path)
    keys, words = parse_layout(data) if data else ([], [])
    unpack = VALUE_AND_TIMESTAMP.unpack_from
    return {key: unpack(data, word * 8) for key, word in zip(keys, words, strict=True)}


def read_journal(path: str) -> frozenset[str]:
    """Names of the claimed files that the merged file at `path` already holds."""
    try:
        with open(path, "rb") as f:
            tail = f.read()
    except FileNotFoundError:
        return frozenset()
    if len(tail) < HEADER_SIZE:
        return frozenset()
    (used,) = _INT.unpack_from(tail)
    journal = tail[used:]
    if not journal.startswith(_JOURNAL_MAGIC):
        return frozenset()
    return frozenset(json.loads(journal[len(_JOURNAL_MAGIC) :]))


def encode(entries: dict[bytes, tuple[float, float]], journal: list[str]) -> bytes:
    """A whole file in prometheus_client's format, followed by the journal."""
    parts = [b""]
    used = HEADER_SIZE
    pack_head = _ENTRY_HEAD.pack
    pack_values = VALUE_AND_TIMESTAMP.pack
    for key, (value, timestamp) in entries.items():
        padding = b" " * key_padding(len(key))
        entry = b"".join((pack_head(len(key)), key, padding, pack_values(value, timestamp)))
        parts.append(entry)
        used += len(entry)
    parts[0] = _INT.pack(used) + b"\0" * 4
    parts.append(_JOURNAL_MAGIC + json.dumps(sorted(journal)).encode())
    return b"".join(parts)


def write_atomically(path: str, data: bytes) -> None:
    """Replace `path` with `data` so that a reader or a crash sees the old file or the new one."""
    tmp = path + TMP_SUFFIX
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_directory(os.path.dirname(path))


def fsync_directory(path: str) -> None:
    """Make renames and unlinks in `path` durable before the next step relies on them."""
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
