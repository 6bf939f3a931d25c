"""The file follower on real files: tail -F semantics, rotations, bounded lines."""

from __future__ import annotations

import os

from exporter.follow import FileFollower


class Reader:
    """A follower and every line it handed over, in order."""

    def __init__(self, path, **options) -> None:
        self.follower = FileFollower(str(path), **options)
        self.lines: list[bytes] = []

    def _consume(self, block: bytes) -> None:
        assert block.endswith(b"\n")
        self.lines.extend(block.split(b"\n")[:-1])

    def poll(self) -> list[bytes]:
        before = len(self.lines)
        while self.follower.poll(self._consume):
            pass
        return self.lines[before:]


def append(path, data: bytes) -> None:
    with open(path, "ab") as file:
        file.write(data)


def test_starts_at_the_end_and_reads_what_is_appended(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"old 1\nold 2\n")
    reader = Reader(log)
    assert reader.poll() == []
    append(log, b"new 1\nnew 2\n")
    assert reader.poll() == [b"new 1", b"new 2"]


def test_a_line_written_in_two_parts_is_handed_over_once_whole(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    reader = Reader(log)
    assert reader.poll() == []
    append(log, b"first half, ")
    assert reader.poll() == []
    append(log, b"second half\n")
    assert reader.poll() == [b"first half, second half"]


def test_readback_starts_at_a_whole_line(tmp_path):
    log = tmp_path / "slow.log"
    log.write_bytes(b"a" * 100 + b"\nline two\nline three\n")
    reader = Reader(log, readback_bytes=15)  # starts inside "line two"
    assert reader.poll() == [b"line three"]


def test_rename_and_create_rotation_loses_and_repeats_nothing(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    reader = Reader(log, rotate_wait=0)
    assert reader.poll() == []
    append(log, b"1\n2\n")
    assert reader.poll() == [b"1", b"2"]
    append(log, b"3\n4 without newline")  # written after our last read, before rotation
    os.rename(log, tmp_path / "app.log.1")
    log.write_bytes(b"5\n6\n")
    # the old file's unfinished line is whole once that file is closed for good
    assert reader.poll() == [b"3", b"5", b"6", b"4 without newline"]
    assert reader.follower.rotations == 1


def test_lines_written_to_the_old_file_after_the_switch_still_count(tmp_path):
    """A writer that reopens only when told (logrotate's postrotate) writes on for a while."""
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    reader = Reader(log, rotate_wait=3600)
    assert reader.poll() == []
    with open(log, "ab", buffering=0) as old:
        old.write(b"before\n")
        os.rename(log, tmp_path / "app.log.1")
        log.write_bytes(b"new 1\n")
        assert reader.poll() == [b"before", b"new 1"]
        old.write(b"late, after the switch\nlate and unfinished")
        append(log, b"new 2\n")
        assert reader.poll() == [b"late, after the switch", b"new 2"]
        old.write(b" but finished\n")
    assert reader.poll() == [b"late and unfinished but finished"]
    # a second rotation closes the first rotated file: its successor is watched instead
    os.rename(log, tmp_path / "app.log.2")
    log.write_bytes(b"newest\n")
    append(tmp_path / "app.log.1", b"late in the first\n")
    append(tmp_path / "app.log.2", b"late in the second\n")
    assert reader.poll() == [b"late in the first", b"late in the second", b"newest"]
    append(tmp_path / "app.log.1", b"no longer read\n")
    append(tmp_path / "app.log.2", b"still read\n")
    assert reader.poll() == [b"still read"]
    assert reader.follower.rotations == 2


def test_moved_away_file_is_read_to_its_end_until_the_new_one_appears(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    reader = Reader(log)
    assert reader.poll() == []
    os.rename(log, tmp_path / "app.log.1")
    append(tmp_path / "app.log.1", b"late write\n")
    assert reader.poll() == [b"late write"]
    log.write_bytes(b"fresh\n")
    assert reader.poll() == [b"fresh"]
    assert reader.follower.rotations == 1


def test_copytruncate_reads_the_file_again_from_its_start(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    reader = Reader(log)
    assert reader.poll() == []
    append(log, b"2024-05-01 line one\n2024-05-01 line two\n")
    assert len(reader.poll()) == 2
    os.truncate(log, 0)
    append(log, b"2024-05-02 after\n")
    assert reader.poll() == [b"2024-05-02 after"]
    assert reader.follower.rotations == 1


def test_copytruncate_outrun_by_the_writer_is_still_seen(tmp_path):
    """Truncated and written past our offset before we polled: size alone cannot tell."""
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    reader = Reader(log)
    assert reader.poll() == []
    append(log, b"2024-05-01 short\n")
    assert reader.poll() == [b"2024-05-01 short"]
    with open(log, "wb") as file:  # truncate, then more than before
        file.write(b"2024-05-02 a longer line\n2024-05-02 and another\n")
    assert reader.poll() == [b"2024-05-02 a longer line", b"2024-05-02 and another"]
    assert reader.follower.rotations == 1


def test_an_over_long_line_is_cut_and_counted_with_bounded_memory(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    reader = Reader(log, max_line_bytes=1000, chunk_bytes=100)
    assert reader.poll() == []
    append(log, b"before\n" + b"x" * 5000)
    assert reader.poll() == [b"before", b"x" * 1000]
    assert len(reader.follower._file.partial) <= 1000
    append(log, b"y" * 5000 + b"\nafter\n" + b"z" * 1500 + b"\nend\n")
    assert reader.poll() == [b"after", b"z" * 1000, b"end"]
    assert reader.follower.truncated_lines == 2
    assert len(reader.lines) == 5


def test_missing_then_created_file_is_read_from_its_start(tmp_path):
    log = tmp_path / "later.log"
    reader = Reader(log)
    assert reader.poll() == []
    assert reader.follower.error and reader.follower.open_errors == 1
    assert reader.poll() == []
    assert reader.follower.open_errors == 1  # one episode, however many polls
    log.write_bytes(b"first\n")
    assert reader.poll() == [b"first"]
    assert reader.follower.error is None


def test_a_path_that_cannot_be_read_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "dir.log").mkdir()
    reader = Reader(tmp_path / "dir.log")
    assert reader.poll() == []
    assert reader.follower.error


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.log")
    reader = Reader(tmp_path / "pipe.log")
    assert reader.poll() == []
    assert reader.follower.error == "not a regular file"


def test_a_backlog_larger_than_one_poll_is_read_whole_before_a_rotation(tmp_path, monkeypatch):
    monkeypatch.setattr("exporter.follow.MAX_BYTES_PER_POLL", 100)
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    reader = Reader(log, max_line_bytes=10, chunk_bytes=10)
    assert reader.poll() == []
    append(log, b"".join(b"line %03d\n" % i for i in range(100)))  # 900 bytes
    os.rename(log, tmp_path / "app.log.1")
    log.write_bytes(b"new\n")
    reader.follower.poll(reader._consume)  # one poll: budget 100 bytes, then the rotation
    assert reader.poll() == []
    assert reader.lines == [b"line %03d" % i for i in range(100)] + [b"new"]
