"""Crafted files cost one file, bounded in time and memory; damaged but readable photos are organised."""

from __future__ import annotations

import json
import struct
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from mobile_backups import samples
from mobile_backups.core.groups import Item
from mobile_backups.core.media import exif_from_tiff, read_media_info
from mobile_backups.core.source import BlockReader, OverBudget
from mobile_backups.engine import Decision, analyse
from mobile_backups.nextcloud.worker import Summary
from mobile_backups.samples import Exif
from mobile_backups.store import Entry, LocalFile, LocalStore
from conftest import analysed, cli

NOV = Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00", make="Google", model="Pixel 8")
REASONS = {  # what each hostile file is left alone for
    "heif-iloc-4G-items.heic": "'iloc' declares 4294967295 items",
    "heif-iloc-extents-64G.heic": "extents",
    "heif-iloc-65535x65535-extents.heic": "'iloc' declares 65535 items",
    "jpeg-8-app1-5000x999.jpg": "a directory of 5000 entries",
    "tiff-65535-entries.dng": "a directory of 65535 entries",
    "jpeg-20MiB-fill.jpg": "fill bytes",
}


@pytest.mark.parametrize("name", sorted(samples.HOSTILE))
def test_each_hostile_file_is_left_alone_fast_and_small(tmp_path, name):
    """Before the bounds these took 47 s to more than 120 s each, or 3 GB and a MemoryError (the report has the numbers)."""
    path = samples.HOSTILE[name](tmp_path / name, **({"exif": NOV} if name.startswith("jpeg") else {}))
    tracemalloc.start()
    started = time.perf_counter()
    item = analysed(path)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert item.problem and REASONS[name] in item.problem and item.problem.endswith("left alone"), item.problem
    assert seconds < 0.5 and peak < 8 * 2**20, (seconds, peak)
    assert item.bytes_read <= 1024 * 1024


class SlowFile(LocalFile):
    """A source whose every read takes a while: a slow server, or a file that needs very many reads."""

    def read_at(self, offset: int, length: int) -> bytes:
        time.sleep(0.02)
        return super().read_at(offset, length)


class SlowStore(LocalStore):
    def open(self, path: str, size: int | None = None) -> LocalFile:
        return SlowFile(Path(path))


def test_the_time_budget_leaves_a_file_with_a_reason(tmp_path):
    boxes = b"".join(struct.pack(">I4s", 8 + 4088, b"free") + bytes(4088) for _ in range(300))  # one read per box header
    clip = tmp_path / "slow.mp4"
    clip.write_bytes(struct.pack(">I4s", 20, b"ftyp") + b"isom\0\0\0\0isom" + boxes)
    started = time.perf_counter()
    item = analyse(SlowStore(), Entry(str(clip), clip.stat().st_size, clip.stat().st_mtime), None, seconds=0.3)
    assert item.problem == "metadata took longer than 0.3 s to read; left alone"
    assert time.perf_counter() - started < 0.3 + 0.1  # one read past the deadline at most


def test_the_byte_budget_stops_a_reader(tmp_path):
    blob = tmp_path / "blob"
    blob.write_bytes(bytes(300_000))
    reader = BlockReader(LocalFile(blob), block_size=65536, max_bytes=100_000)
    assert reader.pread(0, 10) == bytes(10)
    with pytest.raises(OverBudget, match="more than 0 MiB"):
        reader.pread(65536, 70_000)


def test_real_files_within_the_bounds_are_still_read(tmp_path):
    photo = samples.jpeg(tmp_path / "many-segments.jpg", exif=NOV)
    data = photo.read_bytes()
    photo.write_bytes(data[:2] + b"\xff" * 100 + b"\xff\xfe\x00\x02" * 1500 + data[2:])  # fill bytes and 1,500 comments
    assert analysed(photo).capture.taken.iso() == "2024-11-24T15:30:12+01:00"
    big = samples.hostile_jpeg_exif(tmp_path / "big-exif.jpg", blocks=1, entries=300, values=20, exif=NOV)  # 6,000 values
    assert analysed(big).capture.taken.iso() == "2024-11-24T15:30:12+01:00"


def test_a_looping_ifd_chain_and_exif_pointer_end(tmp_path):
    """IFD0 -> IFD1 -> IFD0, and an EXIF pointer back to IFD0: exifread stops at the loop; we count each visit."""
    entries = [struct.pack("<HHII", 0x8769, 4, 1, 8), struct.pack("<HHII", 0x010F, 2, 4, int.from_bytes(b"Cam\0", "little"))]
    ifd0 = struct.pack("<H", 2) + b"".join(entries) + struct.pack("<I", 8 + 30)
    ifd1 = struct.pack("<H", 0) + struct.pack("<I", 8)
    path = tmp_path / "loop.dng"
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd0 + ifd1)
    item = analysed(path)
    assert item.problem is None and item.camera == "Cam"


def test_a_jpeg_xl_container_gives_its_exif_date(tmp_path):
    tiff = samples.exif_bytes(NOV)[6:]
    box = lambda kind, payload: struct.pack(">I4s", 8 + len(payload), kind) + payload  # noqa: E731
    path = tmp_path / "photo.jxl"
    path.write_bytes(box(b"JXL ", b"\r\n\x87\n") + box(b"ftyp", b"jxl \0\0\0\0jxl ") + box(b"Exif", b"\0\0\0\0" + tiff) + box(b"jxlc", b"\xff\x0a"))
    assert analysed(path).capture.taken.iso() == "2024-11-24T15:30:12+01:00"


def cut(src: Path, dst: Path, drop: int) -> Path:
    return samples.corrupt_copy(src, dst, keep_bytes=src.stat().st_size - drop)


def test_damaged_but_readable_files_are_organised_and_reported(tmp_path):
    inbox = tmp_path / "inbox"
    whole = tmp_path / "whole"
    cut(samples.jpeg(whole / "a.jpg", exif=NOV), inbox / "no-eoi.jpg", 2)
    cut(samples.png(whole / "a.png", exif=NOV), inbox / "no-iend.png", 12)
    cut(samples.heic(whole / "a.heic", exif=NOV), inbox / "cut.heic", 100)
    cut(samples.video(whole / "a.mp4", mvhd_utc=datetime(2024, 11, 24, 14, 30), faststart=True), inbox / "cut-mdat.mp4", 100)
    cut(samples.webp(whole / "a.webp", exif=NOV), inbox / "cut-exif.webp", 50)  # its EXIF (after the image) is lost
    cut(samples.video(whole / "b.mp4", mvhd_utc=datetime(2024, 11, 24, 14, 30)), inbox / "cut-moov.mp4", 100)
    (inbox / "empty.jpg").write_bytes(b"")
    (inbox / "text.jpg").write_text("not a photo")
    out = cli("organise", "--json", "--library", str(tmp_path / "lib"), str(inbox)).stdout
    result = {Path(r["source"]).name: r for r in map(json.loads, out.splitlines())}
    for name in ("no-eoi.jpg", "no-iend.png", "cut.heic", "cut-mdat.mp4"):
        record = result[name]
        assert record["action"] == "move" and record["destination"] == f"2024/11/{name}", record
        assert record["damage"] and record["reason"].startswith(f"damaged file ({record['damage']})")
        assert (tmp_path / "lib" / "2024/11" / name).exists()
    for name, why in (("cut-exif.webp", "truncated WebP"), ("cut-moov.mp4", "no 'moov'"), ("empty.jpg", "0 bytes"), ("text.jpg", "not a recognised")):
        assert result[name]["action"] == "skip" and why in result[name]["reason"] and result[name]["damage"] is None, result[name]
        assert (inbox / name).exists()


def test_the_batch_notification_counts_damaged_files(tmp_path):
    photo = cut(samples.jpeg(tmp_path / "a.jpg", exif=NOV), tmp_path / "IMG_1.jpg", 2)
    item = analysed(photo)
    assert item.damage is not None
    summary = Summary()
    summary.add(Decision(item, "move", "2024/11/IMG_1.jpg"))
    summary.add(Decision(analysed(samples.jpeg(tmp_path / "IMG_2.jpg", exif=NOV)), "move", "2024/11/IMG_2.jpg"))
    subject, message = summary.describe("Photos")
    assert subject == "2 photos organised into Photos/2024/11"
    assert message == "1 damaged file organised (see the Nextcloud log)"


def test_a_damaged_item_says_so_in_every_decision():
    item = Item("inbox/x.jpg", 10, 0.0, "photo", damage="truncated JPEG: no end")
    assert Decision(item, "move", "2024/11/x.jpg", "a note").reason == "damaged file (truncated JPEG: no end); a note"
    assert Decision(item, "move", "2024/11/x.jpg").record()["damage"] == "truncated JPEG: no end"


def test_in_the_exapp_hostile_uploads_cost_their_owner_only_those_files(tmp_path, caplog):
    from test_worker import make_worker, run_due  # the ExApp's worker over a local user folder

    worker, queue, alice = make_worker(tmp_path)
    reports = []
    worker.on_batch = lambda user, summary: reports.append((user, summary))
    for name, make in samples.HOSTILE.items():
        make(alice / "InstantUpload" / name)
    samples.jpeg(alice / "InstantUpload/IMG_1.jpg", exif=NOV)
    cut(samples.jpeg(tmp_path / "whole.jpg", exif=NOV, seed=3), alice / "InstantUpload/IMG_2.jpg", 2)
    samples.jpeg(tmp_path / "bob/InstantUpload/IMG_3.jpg", exif=NOV)
    worker.sweep("alice")
    worker.sweep("bob")
    started = time.perf_counter()
    run_due(worker, queue)
    assert time.perf_counter() - started < 3
    assert (tmp_path / "bob/Photos/2024/11/IMG_3.jpg").exists()
    assert (alice / "Photos/2024/11/IMG_1.jpg").exists() and (alice / "Photos/2024/11/IMG_2.jpg").exists()
    assert sorted(p.name for p in (alice / "InstantUpload").iterdir()) == sorted(samples.HOSTILE)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("stays in place" in m for m in warned) == len(samples.HOSTILE)
    assert any("IMG_2.jpg" in m and "damaged file (truncated JPEG" in m for m in warned)
    worker.report_batches(quiet=0)
    alice_summary = dict(reports)["alice"]
    assert alice_summary.describe("Photos")[1] == (
        "1 damaged file organised (see the Nextcloud log); 6 files left in the inbox because of a problem (see the Nextcloud log)")


def test_a_megabyte_xmp_packet_is_read_in_flat_memory(tmp_path):
    """Photoshop's history lists make XMP packets of megabytes: streamed, not built into a tree (39 MiB for this file before)."""
    history = "".join(f"<rdf:li>xmp.did:{n:08x}</rdf:li>" for n in range(120_000))
    packet = samples.xmp_packet(**{"exif:DateTimeOriginal": "2024-11-24T15:30:12+01:00"}).replace(
        b'"/>\n </rdf:RDF>', b'"><photoshop:DocumentAncestors><rdf:Bag>' + history.encode() + b"</rdf:Bag></photoshop:DocumentAncestors></rdf:Description></rdf:RDF>")
    photo = samples.png(tmp_path / "big-xmp.png", xmp=packet)
    assert photo.stat().st_size > 3 * 2**20
    tracemalloc.start()
    item = analysed(photo)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert item.capture.taken.iso() == "2024-11-24T15:30:12+01:00" and item.capture.source == "xmp"
    assert peak < 4 * photo.stat().st_size, peak  # the block cache, one joined copy, expat's buffer


def test_heif_extents_within_the_count_but_over_the_size_are_refused_before_reading(tmp_path):
    path = samples.hostile_heif_extents(tmp_path / "9000x1MiB.heic", extents=9000)
    item = analysed(path)
    assert "a metadata item is implausibly large" in item.problem and item.bytes_read < 200_000


def _exif_with_bad_subdirectories(taken: bytes) -> bytes:
    """A little-endian EXIF block as damaged cameras write it: IFD0 -> EXIF IFD (the date) -> an
    InteropIFD that claims 5,233 entries, and an IFD1 whose entries have an impossible format."""
    ifd0, exif_ifd, interop, ifd1 = 8, 8 + 2 + 12 + 4, 200, 240
    date_at = 300
    block = bytearray(400)
    block[:8] = b"II*\x00" + struct.pack("<I", ifd0)
    block[ifd0 : exif_ifd] = struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, exif_ifd) + struct.pack("<I", ifd1)
    block[exif_ifd : exif_ifd + 2 + 24 + 4] = (struct.pack("<H", 2) + struct.pack("<HHII", 0x9003, 2, 20, date_at)
                                              + struct.pack("<HHII", 0xA005, 4, 1, interop) + bytes(4))
    block[interop : interop + 2] = struct.pack("<H", 5233)
    block[ifd1 : ifd1 + 2 + 12 + 4] = struct.pack("<H", 1) + struct.pack("<HHII", 0x0100, 296, 0xFFFFFF, 0) + bytes(4)
    block[date_at : date_at + 20] = taken + b"\x00"
    return bytes(block)


def test_bad_thumbnail_and_interoperability_directories_do_not_hide_the_date(tmp_path):
    """Real Kodak and Nikon files (Exiv2's bug443 and bug495 test images) have such directories:
    exiftool warns and reads the date; so does the engine, without decoding them."""
    block = _exif_with_bad_subdirectories(b"2003:07:27 16:22:28")
    assert exif_from_tiff(block)["DateTimeOriginal"] == "2003:07:27 16:22:28"
    photo = samples.jpeg(tmp_path / "kodak.jpg")
    with Image.open(photo) as image:
        image.save(tmp_path / "damaged.jpg", exif=b"Exif\x00\x00" + block)
    done = cli("plan", "--json", str(tmp_path / "damaged.jpg"))
    record = json.loads(done.stdout)
    assert (record["taken"], record["action"]) == ("2003-07-27T16:22:28", "move"), record
