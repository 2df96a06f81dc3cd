"""The Simplified Chinese catalogue: complete, faithful to placeholders, current with the code."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.utils import translation

from conversations.interface_text import CONSOLE_TEXT, WIDGET_TEXT, interface_text_catalogue
from helpdesk.management.commands.compile_translations import translations_compile

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "helpdesk" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"\{\w+\}|%\(\w+\)[sd]|%[sd]")


def entries() -> list[polib.POEntry]:
    return [entry for entry in polib.pofile(str(CATALOGUE)) if not entry.obsolete]


def test_every_string_is_translated_and_none_is_fuzzy():
    untranslated = [
        e.msgid for e in entries() if not (e.msgstr_plural[0] if e.msgid_plural else e.msgstr)
    ]
    fuzzy = [e.msgid for e in entries() if "fuzzy" in e.flags]
    assert not untranslated and not fuzzy, (untranslated, fuzzy)
    assert len(entries()) > 100


def test_translations_keep_every_placeholder():
    for entry in entries():
        translated = entry.msgstr_plural[0] if entry.msgid_plural else entry.msgstr
        assert sorted(PLACEHOLDER.findall(entry.msgid)) == sorted(
            PLACEHOLDER.findall(translated)
        ), entry.msgid


def test_compiling_writes_the_mo_django_reads(tmp_path, settings):
    locale = tmp_path / "zh_Hans" / "LC_MESSAGES"
    locale.mkdir(parents=True)
    shutil.copy(CATALOGUE, locale / "django.po")
    settings.LOCALE_PATHS = [tmp_path]
    assert translations_compile() == [locale / "django.mo"]
    assert translations_compile() == []  # up to date: nothing rewritten
    compiled = polib.mofile(str(locale / "django.mo"))
    assert {e.msgid: e.msgstr for e in compiled}["Home"] == "首页"


def test_the_interface_catalogue_serves_both_languages_whatever_the_request_language():
    with translation.override("zh-hans"):
        widget = interface_text_catalogue(texts=WIDGET_TEXT)
    assert widget["en"]["send"] == "Send"
    assert widget["zh"]["send"] == "发送"
    console = interface_text_catalogue(texts=CONSOLE_TEXT)
    assert set(console["en"]) == set(console["zh"]) == set(CONSOLE_TEXT)
    assert all(console["zh"][key] for key in CONSOLE_TEXT)


def test_the_catalogue_holds_every_string_the_code_marks(tmp_path):
    """makemessages over the code adds nothing the committed catalogue lacks.

    It runs on a copy of the code: makemessages writes into every app's locale
    directory it finds, so running it here would rewrite the real catalogue.
    """
    if shutil.which("xgettext") is None:
        if os.environ.get("CI"):
            pytest.fail("GNU gettext missing in CI (python -m tests installs it)")
        pytest.skip("GNU gettext (xgettext) is not installed")
    copy = tmp_path / "code"
    skip = shutil.ignore_patterns("__pycache__", "*.mo")
    for name in ("helpdesk", "kb", "conversations", "templates"):
        shutil.copytree(ROOT / name, copy / name, ignore=skip)
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.test",
        "PYTHONPATH": str(copy),
    }
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "-v", "0"],
        cwd=copy,
        env=env,
        check=True,
        timeout=120,
    )
    fresh = polib.pofile(str(copy / CATALOGUE.relative_to(ROOT)))
    marked = {(e.msgctxt, e.msgid) for e in fresh if not e.obsolete}
    committed = {(e.msgctxt, e.msgid) for e in entries()}
    assert marked - committed == set(), "run: python manage.py makemessages -l zh_Hans"
    assert committed - marked == set(), "strings no longer in the code: remove them"
