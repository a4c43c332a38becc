"""Reading only what is needed, through the byte-range interface a remote store serves."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from mobile_backups import samples
from mobile_backups.core.media import read_media_info
from mobile_backups.samples import Exif
from mobile_backups.core.source import BlockReader
from mobile_backups.store import LocalFile
from conftest import analysed

NOV = Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00", make="Google", model="Pixel 8")


class CountingSource:
    """A stand-in for an HTTP range-request source: records every request."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        self.size = len(self.data)
        self.requests: list[tuple[int, int]] = []

    def read_at(self, offset: int, length: int) -> bytes:
        self.requests.append((offset, length))
        return self.data[offset : offset + length]


def test_big_photos_are_read_from_their_head_only(tmp_path):
    for maker in (samples.jpeg, samples.heic, samples.png, samples.webp):
        photo = maker(tmp_path / f"big.{maker.__name__}", exif=NOV, size=(1600, 1200))
        source = CountingSource(photo)
        info = read_media_info(BlockReader(source))
        assert info.problem is None and info.exif["DateTimeOriginal"] == "2024:11:24 15:30:12"
        fetched = sum(length for _, length in source.requests)
        assert fetched <= 64 * 1024 + 1024 < source.size, (maker.__name__, fetched, source.size)
        assert len(source.requests) <= 3


def test_a_video_with_moov_at_the_end_is_read_at_head_and_tail(tmp_path):
    clip = samples.video(tmp_path / "late-moov.mp4", mvhd_utc=datetime(2024, 5, 5, 5, 5, 5), seconds=20, size=(640, 480))
    assert clip.read_bytes().find(b"moov") > clip.stat().st_size // 2  # the fixture really is a late-moov file
    source = CountingSource(clip)
    info = read_media_info(BlockReader(source, block_size=16 * 1024))
    assert info.mvhd_created is not None
    fetched = sum(length for _, length in source.requests)
    assert fetched <= 2 * 16384 + 1024 and source.size > 6 * 16384, (fetched, source.size)


def test_block_reader_counts_what_the_source_delivered(tmp_path):
    data = os.urandom(200_000)
    (tmp_path / "blob").write_bytes(data)
    with LocalFile(tmp_path / "blob") as source:
        reader = BlockReader(source, block_size=65536)
        assert reader.pread(10, 5) == data[10:15]
        assert reader.pread(65530, 20) == data[65530:65550]  # spans two blocks
        assert reader.pread(199_990, 100) == data[199_990:]  # short at EOF
        assert reader.bytes_read == 65536 * 2 + (200_000 - 3 * 65536)
        reader.seek(-4, 2)
        assert reader.read() == data[-4:]


def test_camera_name_comes_from_exif_or_quicktime(tmp_path):
    photo = samples.jpeg(tmp_path / "a.jpg", exif=Exif(date_time_original="2024:01:01 10:00:00", make="Canon", model="Canon EOS R5"))
    assert analysed(photo).camera == "Canon EOS R5"
    clip = samples.video(tmp_path / "b.mov", apple_creationdate="2024-01-01T10:00:00+0100", make="Apple", model="iPhone 15 Pro")
    assert analysed(clip).camera == "Apple iPhone 15 Pro"
