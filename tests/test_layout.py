"""Layout templates: every token, every refusal, names Nextcloud accepts."""

from __future__ import annotations

from datetime import datetime

import pytest

from mobile_backups.core.layout import DEFAULT_LAYOUT, MAX_NAME_BYTES, LayoutError, parse_layout, render, safe_name, with_counter

WHEN = datetime(2024, 11, 24, 15, 30, 12)


def path(template: str, filename: str = "IMG_1234.HEIC", camera: str | None = "Apple iPhone 15 Pro", kind: str = "photo") -> str:
    return render(parse_layout(template), WHEN, kind=kind, camera=camera, filename=filename)


def test_default_layout_keeps_the_original_name():
    assert DEFAULT_LAYOUT == "{year}/{month}"
    assert path(DEFAULT_LAYOUT) == "2024/11/IMG_1234.HEIC"


def test_every_token():
    template = "{year}-{yy}-{month}-{month_name}-{month_short}-{day}/{hour}{minute}{second}-w{week}-{kind}-{camera}/{stem}.{ext}|{filename}"
    assert path(template) == "2024-24-11-November-Nov-24/153012-w47-photo-Apple iPhone 15 Pro/IMG_1234.HEIC|IMG_1234.HEIC"


def test_a_stem_template_keeps_the_extension():
    assert path("{year}/{year}{month}{day}_{stem}") == "2024/20241124_IMG_1234.HEIC"


def test_unknown_camera_has_a_name():
    assert path("{camera}/{year}", camera=None) == "Unknown camera/2024/IMG_1234.HEIC"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/{year}", "relative"),
        ("C:/{year}", "relative"),
        ("{year}/../{month}", "'..'"),
        ("..", "'..'"),
        ("{year}//{month}", "empty folder"),
        ("{year}/{colour}", "unknown token {colour}"),
        ("{year", "unbalanced"),
        ("{year}}", "unbalanced"),
        ("{year}\\{month}", "'\\'"),
        ("{year}\n", "control"),
    ],
)
def test_invalid_templates_are_refused_with_the_problem_named(template, message):
    with pytest.raises(LayoutError, match=None) as err:
        parse_layout(template)
    assert message in str(err.value)


def test_values_cannot_leave_the_library_or_break_names():
    assert path("{camera}/{year}", camera="../../etc") == ".._.._etc/2024/IMG_1234.HEIC"
    assert path("{camera}", camera="..") == "_/IMG_1234.HEIC"
    assert path("{camera}", camera="Bad\x00Cam\nera. ") == "Bad_Cam_era/IMG_1234.HEIC"


def test_names_stay_within_nextcloud_limits():
    long = "é" * 300 + ".jpg"
    name = safe_name(long)
    assert len(name.encode()) <= MAX_NAME_BYTES and name.endswith(".jpg")
    assert len(with_counter(name, 12).encode()) <= MAX_NAME_BYTES
    assert with_counter("IMG_1234.jpg", 2) == "IMG_1234 (2).jpg"
    assert safe_name("trailing. . ") == "trailing"


def test_a_name_that_sanitises_to_a_dot_file_or_to_nothing_stays_visible_and_keeps_its_extension():
    """` .jpg` would become the hidden `.jpg`, and its clash `.jpg (2)` without an extension."""
    layout = parse_layout(DEFAULT_LAYOUT)
    when = datetime(2024, 11, 24, 15, 30)
    assert render(layout, when, kind="photo", camera=None, filename=" .jpg") == "2024/11/unnamed.jpg"
    assert render(layout, when, kind="photo", camera=None, filename=". .HEIC") == "2024/11/unnamed.HEIC"
    assert render(layout, when, kind="photo", camera=None, filename=" . ") == "2024/11/unnamed"
    assert render(parse_layout("{year}/{stem}"), when, kind="photo", camera=None, filename=" .jpg") == "2024/unnamed.jpg"
    assert with_counter(render(layout, when, kind="photo", camera=None, filename=" .jpg").split("/")[-1], 2) == "unnamed (2).jpg"
    assert render(layout, when, kind="photo", camera=None, filename="IMG_1.jpg") == "2024/11/IMG_1.jpg"
