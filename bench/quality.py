"""Quality transforms: the app's path against ImageMagick and the vips command line, on the same files, in one run.

    PYTHONPATH=ex_app/lib python bench/quality.py [--copies 3]

Files (generated, with EXIF date, offset, GPS, orientation 6 and an ICC profile): 12 MP and 48 MP JPEGs,
downscaled to 6 and 16 MP, and 12 MP HEICs, converted to JPEG q90. Each tool runs with one thread
(MAGICK_THREAD_LIMIT, VIPS_CONCURRENCY: one worker's numbers); the app runs in one worker process over all
files of a kind, each tool once per file, as they are used. Throughput is files per second of wall time;
also per CPU second (what a pool with one worker per core gets); memory is the peak RSS of the worker (the largest
over the tool's per-file processes). Ratios are against the faster ImageMagick run. Fidelity: the share of outputs
whose capture date, offset, GPS and ICC (exiftool -j -n, before and after) and displayed orientation (decoded, turned
by its EXIF orientation, against the source) survived. Last, the bytes the app's outputs take against the sources', beside
what a rules preview expects for them (rules/match.py expected_change). Needs ImageMagick
(`apt-get install imagemagick`) and libvips-tools for the comparison; a missing tool is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pillow_heif
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat

from mobile_backups import samples
from mobile_backups.rules.facts import FileFacts
from mobile_backups.rules.match import Verdict, expected_change
from mobile_backups.rules.model import Rule

pillow_heif.register_heif_opener()
Image.MAX_IMAGE_PIXELS = None
EXIF = samples.Exif(date_time_original="2024:05:01 10:11:12", offset_time_original="+02:00", make="Apple", model="iPhone 15 Pro",
                    gps=(48.8584, -2.2945), orientation=6)
KINDS = {  # name: (format, size, target megapixels or None for a conversion)
    "12 MP JPEG -> 6 MP": ("jpeg", (4032, 3024), 6),
    "48 MP JPEG -> 16 MP": ("jpeg", (8064, 6048), 16),
    "12 MP HEIC -> JPEG": ("heic", (4032, 3024), None),
}
ONE_THREAD = {"MAGICK_THREAD_LIMIT": "1", "OMP_NUM_THREADS": "1", "VIPS_CONCURRENCY": "1"}
ROOMY_POLICY = """<policymap>
  <policy domain="resource" name="memory" value="4GiB"/> <policy domain="resource" name="map" value="8GiB"/>
  <policy domain="resource" name="area" value="1GP"/> <policy domain="resource" name="width" value="64KP"/>
  <policy domain="resource" name="height" value="64KP"/>
</policymap>
"""
APP = """
import sys, time
from pathlib import Path
from mobile_backups.rules.quality import pool, transforms
pool.one_worker()
target, jobs = sys.argv[1], sys.argv[2:]
started = time.monotonic()
for source in jobs:
    source = Path(source); out = Path(target) / (source.stem + ".jpg")
    r = transforms.convert_heic(source, out) if source.suffix == ".heic" else transforms.downscale(source, out, above_mp=1, to_mp=float(sys.argv[1].rsplit("-", 1)[1]), min_saving_percent=0)
    assert r.skipped is None, r
print(time.monotonic() - started)
"""


def size_for(size: tuple[int, int], megapixels: float) -> tuple[int, int]:
    scale = (megapixels * 1e6 / (size[0] * size[1])) ** 0.5
    return round(size[0] * scale), round(size[1] * scale)


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS in bytes, stdout) of one process, measured by /usr/bin/time (os.wait4 here
    would count this large process's memory in the child's peak: Linux keeps the high-water mark across fork and exec)."""
    started = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", *command], capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{command[0]} failed: {done.stderr[-400:]}")
    rss, user, system = done.stderr.strip().splitlines()[-1].split()
    return time.monotonic() - started, float(user) + float(system), int(rss) * 1024, done.stdout


def tools(kind: str, source: Path, out: Path, target: tuple[int, int] | None) -> dict[str, list[str]]:
    found = {}
    if Path("/usr/bin/convert").exists():  # the real ImageMagick (a stand-in may sit earlier on PATH)
        resize = ["-resize", f"{target[0]}x{target[1]}"] if target else []
        found["ImageMagick"] = ["/usr/bin/convert", str(source), *resize, "-quality", "90", str(out)]
        # Debian's policy.xml caps the pixel cache at 256 MiB and 128 MP (a 48 MP picture goes to disk), and -limit
        # cannot raise a policy's maximum: also run with a policy that gives it room (MAGICK_CONFIGURE_PATH, see main)
        found["ImageMagick, roomy policy"] = found["ImageMagick"]
    if shutil.which("vips"):
        found["vips"] = (["vipsthumbnail", str(source), "--size", f"{max(target)}x{max(target)}", "-o", f"{out}[Q=90]"] if target
                         else ["vips", "copy", str(source), f"{out}[Q=90]"])
    return found


def displayed(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def survived(source: Path, output: Path, before: dict, after: dict) -> dict[str, bool]:
    shown, expected = displayed(output), displayed(source)
    orientation = abs(shown.width / shown.height - expected.width / expected.height) < 0.01
    if orientation:  # the same shape: the same picture, upright?
        small = expected.resize((64, 48) if expected.width > expected.height else (48, 64))
        orientation = sum(ImageStat.Stat(ImageChops.difference(shown.resize(small.size), small)).mean) / 3 < 12
    return {
        "date": after.get("DateTimeOriginal") == before.get("DateTimeOriginal"),
        "offset": after.get("OffsetTimeOriginal") == before.get("OffsetTimeOriginal"),
        "GPS": after.get("GPSLatitude") == before.get("GPSLatitude") and after.get("GPSLongitude") == before.get("GPSLongitude"),
        "orientation": orientation,
        "ICC": bool(after.get("ProfileDescription")) and after.get("ProfileDescription") == before.get("ProfileDescription"),
    }


def exiftool(paths: list[Path]) -> dict[str, dict]:
    found = json.loads(subprocess.run(["exiftool", "-j", "-n", *map(str, paths)], capture_output=True, text=True, check=True).stdout)
    return {entry["SourceFile"]: entry for entry in found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="files of each kind")
    args = parser.parse_args()
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": os.pathsep.join(sys.path)}
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rows = []
    sizes: list[tuple[str, float, float]] = []  # kind, the app's output bytes over the sources', what the preview expected
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        root = Path(tmp)
        (root / "policy.xml").write_text(ROOMY_POLICY)
        for name, (fmt, size, megapixels) in KINDS.items():
            first = samples.phone_photo(root / "src" / f"{fmt}{size[0]}-0.{fmt}", fmt, exif=EXIF, icc=icc, size=size, seed=1, quality=92)
            sources = [first] + [Path(shutil.copy(first, first.with_name(f"{fmt}{size[0]}-{n}.{fmt}"))) for n in range(1, args.copies)]
            target = size_for(size, megapixels) if megapixels else None
            before = exiftool(sources)
            results: dict[str, tuple[float, float, int, list[Path]]] = {}
            out = root / f"app-{name[:2]}-{megapixels or 0}"
            out.mkdir()
            _, cpu, peak, stdout = run([sys.executable, "-c", APP, str(out), *map(str, sources)], env)
            results["app (Pillow, pillow-heif)"] = (float(stdout.strip()), cpu, peak, sorted(out.iterdir()))
            for tool in tools(fmt, first, root / "x.jpg", target):
                folder = root / f"{tool}-{name[:2]}-{fmt}"
                folder.mkdir()
                seconds, cpu, peak = 0.0, 0.0, 0
                tool_env = {**env, "MAGICK_CONFIGURE_PATH": str(root)} if "roomy" in tool else env
                for source in sources:
                    wall, used, rss, _ = run(tools(fmt, source, folder / (source.stem + ".jpg"), target)[tool], tool_env)
                    seconds, cpu, peak = seconds + wall, cpu + used, max(peak, rss)
                results[tool] = (seconds, cpu, peak, sorted(folder.iterdir()))
            made = sum(p.stat().st_size for p in results["app (Pillow, pillow-heif)"][3])
            rule = Rule("bench", "downscale", to_mp=megapixels) if megapixels else Rule("bench", "convert")
            expected = sum(expected_change(Verdict(FileFacts(s.name, s.stat().st_size, None, megapixels=size[0] * size[1] / 1e6), rule,
                                                   rule.action, "")) or 0 for s in sources)
            original = sum(s.stat().st_size for s in sources)
            sizes.append((name, made / original, (expected if rule.action == "convert" else original + expected) / original))
            for tool, (seconds, cpu, peak, outputs) in results.items():
                after = exiftool(outputs)
                checks = [survived(s, o, before[str(s)], after[str(o)]) for s, o in zip(sources, outputs)]
                fields = {f: sum(c[f] for c in checks) / len(checks) for f in checks[0]}
                rows.append((name, tool, len(sources) / seconds, len(sources) / cpu, peak, fields))
    print(f"{'files':20} {'tool':26} {'files/s':>7} {'/CPU-s':>7} {'peak MB':>7} {'x IM speed':>10} {'x IM CPU':>8} {'x IM mem':>8}"
          "  survived: date offset GPS orientation ICC")
    for name, tool, rate, per_cpu, peak, fields in rows:
        im = max((r for r in rows if r[0] == name and r[1].startswith("ImageMagick")), key=lambda r: r[2], default=None)
        ratio = f"{rate / im[2]:10.2f} {per_cpu / im[3]:8.2f} {peak / im[4]:8.2f}" if im else f"{'-':>10} {'-':>8} {'-':>8}"
        fidelity = " ".join(f"{fields[f] * 100:.0f}%" for f in fields)
        print(f"{name:20} {tool:26} {rate:7.2f} {per_cpu:7.2f} {peak / 2**20:7.0f} {ratio}  {fidelity}")
    for name, made, expected in sizes:
        print(f"{name:20} the app's output is {made:.2f} x the sources' bytes; the preview expected {expected:.2f} x"
              + (" (these HEICs are x265 encodes of a generated picture; on real iPhone HEICs the issue measured 1.3-1.7 x)" if "HEIC" in name else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
