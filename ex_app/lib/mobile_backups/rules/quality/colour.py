"""An ICC profile for a HEIC that describes its colours only by `nclx` (CICP code points, no ICC).

A JPEG has no nclx: written without a profile it is read as sRGB, and Display P3 content (common on
phones) shifts. The pixels are kept as they are and this profile, built from the primaries libheif reports,
says what they mean: no gamut is lost. A matrix/TRC profile (ICC v2, as LittleCMS and browsers read it),
colourants adapted to the D50 connection space with Bradford, the sRGB tone curve.
"""

from __future__ import annotations

import struct

SRGB_PRIMARIES = frozenset({1, 2})  # BT.709 (sRGB) and "unspecified": a JPEG without a profile means the same
SRGB_TRANSFERS = frozenset({2, 13})  # unspecified, sRGB (IEC 61966-2-1)
LINEAR = 8
D50 = (0.9642, 1.0, 0.8249)
BRADFORD = ((0.8951, 0.2664, -0.1614), (-0.7502, 1.7135, 0.0367), (0.0389, -0.0685, 1.0296))
PRIMARY_NAMES = {12: "Display P3", 11: "DCI-P3", 9: "BT.2020"}


class Unsupported(Exception):
    """The nclx describes colours a converted JPEG could not show unchanged (HDR transfer, say)."""


def icc_for_nclx(nclx: dict) -> bytes | None:
    """An ICC profile meaning what `nclx` (pillow_heif's `nclx_profile`) means; None when it is sRGB.
    Raises `Unsupported` for a transfer other than sRGB or linear (PQ and HLG are HDR)."""
    transfer, primaries = nclx.get("transfer_characteristics", 2), nclx.get("color_primaries", 2)
    if transfer not in SRGB_TRANSFERS | {LINEAR}:
        raise Unsupported(f"nclx transfer characteristics {transfer} (HDR or unusual): the colours would shift in a JPEG")
    if primaries in SRGB_PRIMARIES and transfer in SRGB_TRANSFERS:
        return None
    xy = [(nclx[f"color_primary_{c}_x"], nclx[f"color_primary_{c}_y"]) for c in ("red", "green", "blue", "white")]
    name = f"{PRIMARY_NAMES.get(primaries, f'CICP primaries {primaries}')}{' linear' if transfer == LINEAR else ''} (from nclx)"
    return _profile(name, _colourants(xy), linear=transfer == LINEAR)


def _xyz(x: float, y: float) -> list[float]:
    return [x / y, 1.0, (1 - x - y) / y]


def _mul(a: list[list[float]] | tuple, b: list[list[float]] | tuple) -> list[list[float]]:
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _inverse(m: list[list[float]] | tuple) -> list[list[float]]:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return [[(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
            [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
            [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det]]


def _colourants(xy: list[tuple[float, float]]) -> list[list[float]]:
    """RGB -> XYZ (D50) matrix of primaries and white point given as xy chromaticities."""
    columns = [_xyz(*p) for p in xy[:3]]
    m = [[columns[j][i] for j in range(3)] for i in range(3)]
    white = _xyz(*xy[3])
    scale = [sum(row[k] * white[k] for k in range(3)) for row in _inverse(m)]
    m = [[m[i][j] * scale[j] for j in range(3)] for i in range(3)]
    source = [sum(BRADFORD[i][k] * white[k] for k in range(3)) for i in range(3)]
    target = [sum(BRADFORD[i][k] * D50[k] for k in range(3)) for i in range(3)]
    adapt = _mul(_inverse(BRADFORD), _mul([[target[i] / source[i] if i == j else 0.0 for j in range(3)] for i in range(3)], BRADFORD))
    return _mul(adapt, m)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _srgb_curve(points: int = 1024) -> list[int]:
    def decode(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return [round(decode(n / (points - 1)) * 65535) for n in range(points)]


def _profile(name: str, matrix: list[list[float]], linear: bool) -> bytes:
    text = name.encode("ascii")
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text) + 1) + text + b"\x00" + bytes(4 + 4 + 2 + 1 + 67)
    curve = [] if linear else _srgb_curve()
    trc = b"curv" + bytes(4) + struct.pack(">I", len(curve)) + struct.pack(f">{len(curve)}H", *curve)
    xyz = lambda v: b"XYZ " + bytes(4) + b"".join(_s15(c) for c in v)  # noqa: E731
    tags = [(b"desc", desc), (b"cprt", b"text" + bytes(4) + b"No copyright, use freely\x00"), (b"wtpt", xyz(D50)),
            (b"rXYZ", xyz([row[0] for row in matrix])), (b"gXYZ", xyz([row[1] for row in matrix])),
            (b"bXYZ", xyz([row[2] for row in matrix])), (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    offset, table, data, placed = 128 + 4 + 12 * len(tags), b"", b"", {}
    for signature, body in tags:
        if body not in placed:  # the three tone curves share one body
            placed[body] = offset + len(data)
            data += body + bytes(-len(body) % 4)
        table += signature + struct.pack(">II", placed[body], len(body))
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + bytes(24) + struct.pack(">I", 0) + b"".join(_s15(c) for c in D50) + bytes(48))
    return header + struct.pack(">I", len(tags)) + table + data
