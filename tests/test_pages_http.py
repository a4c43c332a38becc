"""The app's own pages over real HTTP, as the browser gets them through AppAPI's proxy: the ExApp as a
process, a stand-in Nextcloud with real files. What each page must say (and not say) to a plain user."""

from __future__ import annotations

import re
import subprocess
from html import unescape

import httpx
import pytest

from mobile_backups import samples
from mobile_backups.core.layout import TOKENS
from fake_nextcloud import FakeNextcloud
from test_exapp_http import running_exapp, signed

TOKEN_LIST = " ".join(f"{{{t}}}" for t in TOKENS)


@pytest.fixture(scope="module")
def nextcloud(tmp_path_factory):
    fake = FakeNextcloud(files=tmp_path_factory.mktemp("files"))
    fake.users = {"bob": {"groups": ["family"], "timezone": "Europe/Berlin"}, "carol": {"groups": [], "timezone": "Europe/Berlin"}}
    home = fake.files.root / "bob"
    for folder in ("InstantUpload", "Old phone", "Photos"):
        (home / folder).mkdir(parents=True)
    (fake.files.root / "carol" / "InstantUpload").mkdir(parents=True)
    samples.jpeg(home / "Old phone/IMG_7001.jpg", exif=samples.Exif(date_time_original="2024:11:24 14:03:00", offset_time_original="+01:00"))
    samples.jpeg(home / "Old phone/IMG_20230405_101112.jpg", seed=2)  # no metadata: the date in its name
    (home / "Old phone/notes.txt").write_text("not a photo")
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory, nextcloud):
    with running_exapp(nextcloud.url, tmp_path_factory.mktemp("storage"), env={"TZ": "Europe/Berlin"}, output=subprocess.DEVNULL) as url:
        yield url


def get(base: str, path: str, user: str = "bob", **params: str) -> httpx.Response:
    return httpx.get(base + path, params=params, headers=signed(user), timeout=30)


def text_of(html: str) -> str:
    """What the user reads: the page without its tags, style and script."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def attribute(html: str, element_id: str, name: str) -> str | None:
    tag = re.search(rf"<[^>]*\bid='{element_id}'[^>]*>", html)
    assert tag, f"no element #{element_id}"
    found = re.search(rf"\b{name}='([^']*)'", tag[0])
    return unescape(found[1]) if found else None


# --- the preview -------------------------------------------------------------------------------


@pytest.mark.parametrize("param", ["fileIds", "fileId"])
def test_the_preview_opens_by_the_file_id_the_embedded_page_receives(base, nextcloud, param):
    file_id = nextcloud.files.file_id("bob", "Old phone")
    page = get(base, "/preview", **{param: str(file_id)})
    assert page.status_code == 200, text_of(page.text)
    assert "would move 2 of 3 file(s)" in text_of(page.text)
    assert get(base, "/preview", fileIds=f"{file_id},99").status_code == 200  # a selection of several: its first
    unknown = get(base, "/preview", fileIds="987654")
    assert unknown.status_code == 404 and "No such folder in your files" in text_of(unknown.text)
    assert get(base, "/preview", fileIds="x").status_code == 404
    assert get(base, "/preview", "carol", fileIds=str(file_id)).status_code == 404  # bob's id is nothing in carol's files


def preview_rows(html: str) -> dict[str, list[str]]:
    """File -> the text of each cell of its row in the preview table."""
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)]
    return {text_of(cells[0]).strip(): [text_of(c).strip() for c in cells] for cells in rows if cells}


def test_the_preview_says_why_each_file_goes_where(base):
    page = get(base, "/preview", folder="Old phone")
    rows = preview_rows(page.text)
    assert set(rows) == {"Old phone/IMG_7001.jpg", "Old phone/IMG_20230405_101112.jpg", "Old phone/notes.txt"}
    assert rows["Old phone/IMG_7001.jpg"][2:] == ["Photos/2024/11/IMG_7001.jpg", "taken 2024-11-24 14:03 +01:00 (EXIF)"]
    assert rows["Old phone/IMG_20230405_101112.jpg"][2:] == ["Photos/2023/04/IMG_20230405_101112.jpg", "taken 2023-04-05 10:11 (date in the file name)"]
    assert rows["Old phone/notes.txt"][2] == "stays" and rows["Old phone/notes.txt"][3]
    assert "Nothing has been moved" in text_of(page.text)


def test_without_a_folder_the_preview_shows_the_inboxes(base):
    page = get(base, "/preview")
    assert page.status_code == 200 and "InstantUpload" in text_of(page.text)


# --- the settings page -----------------------------------------------------------------------------


def post(base: str, user: str = "bob", **form: str) -> httpx.Response:
    return httpx.post(base + "/settings", data=form, headers=signed(user), timeout=30)


@pytest.fixture
def fresh_bob(nextcloud):
    """bob with nothing saved before and after (the page reads the preferences again on every GET)."""
    nextcloud.preferences.pop("bob", None)
    yield
    nextcloud.preferences.pop("bob", None)


def test_an_empty_field_promises_the_admins_default_even_after_the_user_saved_one(base, fresh_bob):
    assert post(base, layout="{year}/{month_name}", library_folder="Pictures").status_code == 200
    page = get(base, "/settings")
    assert attribute(page.text, "layout", "value") == "{year}/{month_name}"
    assert attribute(page.text, "layout", "placeholder") == "{year}/{month}"  # the admin's default, not the saved value
    assert attribute(page.text, "library_folder", "placeholder") == "Photos"
    assert attribute(page.text, "inbox_folders", "placeholder") == "InstantUpload, Photos, AutoUpload"


def test_a_refused_save_names_the_problem_once_and_says_the_example_is_what_stays_in_force(base, fresh_bob):
    refused = post(base, layout="{year}/{nonsense}")
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert text.count("unknown token {nonsense}") == 1, text  # at the field, not again in the message on top
    assert text.count(TOKEN_LIST) == 1, text  # the list of tokens, once
    assert "Not saved" in text
    assert attribute(refused.text, "layout", "value") == "{year}/{nonsense}"  # what was typed, to correct it
    assert attribute(refused.text, "layout", "aria-invalid") == "true"
    described = attribute(refused.text, "layout", "aria-describedby").split()
    assert "layout-problem" in described
    sentence = text_of(re.search(r"<p[^>]*id='example-sentence'.*?</p>", refused.text, re.S)[0])
    assert "still in force" in sentence and "Photos/2024/11/IMG_1234.jpg" in sentence, sentence


def test_the_live_example_keeps_a_problem_out_of_the_sentence(base):
    bad = get(base, "/example", layout="{year}/{nonsense}").json()
    assert set(bad) == {"problem", "problems", "in_force"}
    assert bad["problems"]["layout"].startswith("unknown token {nonsense}") and TOKEN_LIST not in bad["problems"]["layout"]
    assert bad["in_force"] == "Photos/2024/11/IMG_1234.jpg"
    assert get(base, "/example", layout="{year}/{week}").json() == {"example": "Photos/2024/47/IMG_1234.jpg"}


def test_the_pages_are_nextcloud_styled_and_fit_a_phone(base):
    for path, params in (("/settings", {}), ("/preview", {"folder": "Old phone"})):
        page = get(base, path, **params)
        assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page.text
        assert "var(--color-primary-element)" in page.text and "--color-main-background:" in page.text  # Nextcloud's variables, with fallbacks
        assert "prefers-color-scheme: dark" in page.text and ":focus-visible" in page.text
    settings = get(base, "/settings").text
    for field in ("inbox_folders", "library_folder", "layout"):
        assert f"<label for='{field}'" in settings
    assert "class='primary'" in settings


def test_an_unusable_saved_value_is_marked_and_the_example_says_what_applies_instead(base, nextcloud, fresh_bob):
    nextcloud.preferences["bob"] = {"layout": "{year}/{bogus}"}  # what the declarative form stores without checking
    page = get(base, "/settings")
    assert page.status_code == 200 and attribute(page.text, "layout", "aria-invalid") == "true"
    assert text_of(page.text).count("unknown token {bogus}") == 1
    sentence = text_of(re.search(r"<p[^>]*id='example-sentence'.*?</p>", page.text, re.S)[0])
    assert "cannot be used, so the settings in force apply" in sentence and "Photos/2024/11/IMG_1234.jpg" in sentence, sentence
