"""Re-encode videos above 1080p with ffmpeg (H.264 or HEVC), keeping what phones record around the pictures.

ffmpeg turns the pixels by the rotation (its default autorotate) so the result shows the same way with no
rotation left to misread; `-map_metadata 0` and `use_metadata_tags` carry the container's tags over, Apple's
keys among them (creation date with its offset, location, make, model, the live-photo identifier); the
audio is copied as it is. The result is checked (ffprobe and exiftool, before and after) before it is linked
beside, like the photo transforms'.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from . import gates, verify
from .transforms import MIN_SAVING_PERCENT, Result, _safely, _skip

CODECS = {  # rule value: ffmpeg encoder options (hvc1: the tag Apple's players want for HEVC in MP4)
    "h264": ("-c:v", "libx264", "-crf", "23", "-pix_fmt", "yuv420p"),
    "hevc": ("-c:v", "libx265", "-crf", "26", "-pix_fmt", "yuv420p", "-tag:v", "hvc1", "-x265-params", "log-level=error"),
}
KEPT_KEYS = ("CreationDate", "GPSCoordinates", "Make", "Model", "ContentIdentifier", "CreateDate")  # exiftool names
SECONDS = 3600.0  # one video's encode (HEVC "medium" runs about 6x slower than real time on 2 cores)


def probe(path: Path) -> dict:
    run = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
                         capture_output=True, text=True, timeout=120)
    return json.loads(run.stdout or "{}")


def shown_size(stream: dict) -> tuple[int, int]:
    """The video's displayed width and height: its coded size turned by the display matrix or rotate tag."""
    rotation = int(stream.get("tags", {}).get("rotate", 0))
    for side in stream.get("side_data_list", []):
        rotation = int(side.get("rotation", rotation))
    width, height = stream["width"], stream["height"]
    return (height, width) if rotation % 180 else (width, height)


@_safely
def reencode_video(source: Path, output: Path, *, max_lines: int = 1080, codec: str = "h264", preset: str = "medium",
                   min_saving_percent: float = MIN_SAVING_PERCENT, seconds: float = SECONDS) -> Result:
    """The video at `max_lines` on its short side (never upscaled) in `codec`, if that saves `min_saving_percent`."""
    if reason := gates.refusal(gates.probe_path(source), "reencode_video"):
        return _skip("reencode_video", source, reason)
    before = probe(source)
    videos = [s for s in before.get("streams", []) if s.get("codec_type") == "video"]
    if not videos:
        return _skip("reencode_video", source, "no video stream")
    width, height = shown_size(videos[0])
    if min(width, height) <= max_lines:
        return _skip("reencode_video", source, f"{width} x {height}: not above {max_lines}p")
    scale = f"scale={'-2' if width > height else max_lines}:{max_lines if width > height else '-2'}"
    temp = output.parent / f".{output.name}.{os.getpid()}.partial{output.suffix}"
    try:
        run = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), "-map", "0:v:0", "-map", "0:a?", "-vf", scale,
             *CODECS[codec], "-preset", preset, "-c:a", "copy", "-map_metadata", "0", "-movflags", "+use_metadata_tags",
             "-f", "mov" if source.suffix.lower() == ".mov" else "mp4", str(temp)],
            capture_output=True, text=True, timeout=seconds)
        if run.returncode:
            return _skip("reencode_video", source, f"ffmpeg could not encode it: {run.stderr.strip()[-300:]}")
        problem, checked = _check(source, temp, before, (width, height), max_lines)
        if problem:
            return _skip("reencode_video", source, f"the new file failed its check: {problem}")
        size_before, size_after = source.stat().st_size, temp.stat().st_size
        saved = round(100 * (size_before - size_after) / size_before, 1)
        if saved < min_saving_percent:
            return _skip("reencode_video", source, f"would save {saved:g} %: less than {min_saving_percent:g} %")
        os.link(temp, output)
        return Result("reencode_video", str(source), str(output), size_before, size_after, saved, None, checked)
    except FileExistsError:
        return _skip("reencode_video", source, f"{output.name} already exists: not overwritten")
    except subprocess.TimeoutExpired:
        return _skip("reencode_video", source, f"took longer than {seconds:g} s: stopped")
    finally:
        temp.unlink(missing_ok=True)


def _check(source: Path, output: Path, before: dict, shown: tuple[int, int], max_lines: int) -> tuple[str | None, tuple[str, ...]]:
    decode = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(output), "-f", "null", "-"], capture_output=True,
                            text=True, timeout=SECONDS)
    if decode.returncode or decode.stderr.strip():
        return f"the output does not decode cleanly: {decode.stderr.strip()[-300:]}", ()
    after = probe(output)
    videos = [s for s in after.get("streams", []) if s.get("codec_type") == "video"]
    if not videos:
        return "no video stream in the output", ()
    new = shown_size(videos[0])
    if min(new) != max_lines or (new[0] > new[1]) != (shown[0] > shown[1]):
        return f"shows as {new[0]} x {new[1]}, not as {shown[0]} x {shown[1]} scaled to {max_lines}p", ()
    audio = lambda probed: sum(s.get("codec_type") == "audio" for s in probed.get("streams", []))  # noqa: E731
    if audio(after) != audio(before):
        return f"{audio(after)} audio streams where there were {audio(before)}", ("size", "orientation")
    duration = lambda probed: float(probed.get("format", {}).get("duration", 0))  # noqa: E731
    if abs(duration(after) - duration(before)) > 0.5:
        return f"lasts {duration(after):.1f} s, not {duration(before):.1f} s", ("size", "orientation", "audio")
    tags_before, tags_after = (verify.exiftool_json(path)[0] for path in (source, output))
    kept = {k: v for k, v in tags_before.items() if k.rpartition(":")[2] in KEPT_KEYS}
    if lost := sorted(k for k, v in kept.items() if tags_after.get(k) != v):
        return f"tags lost or changed: {lost}", ("size", "orientation", "audio", "duration")
    return None, ("decodes", "size", "orientation", "audio", "duration", *sorted({k.rpartition(':')[2] for k in kept}))
