"""The catalogues: every word of the pages in Spanish and French, compiled as committed."""

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "referral" / "translations"


def _hashable(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def _catalog(language):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle)


def test_the_template_holds_every_word_the_pages_use(tmp_path):
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract",
                    "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "reason",
                    "-k", "reason_n:1,2", "-o", str(fresh),
                    "referral"], cwd=ROOT, check=True, capture_output=True)
    with open(fresh, "rb") as handle:
        used = {message.id for message in read_po(handle) if message.id}
    missing = used - {message.id for message in _catalog("es") if message.id}
    assert not missing, f"run `make translations` and translate: {sorted(missing)[:5]}"


@pytest.mark.parametrize("language", ["es", "fr"])
def test_every_message_is_translated(language):
    untranslated = [message.id for message in _catalog(language)
                    if message.id and (message.fuzzy or not all(_hashable(message.string)
                                                                if message.pluralizable
                                                                else [message.string]))]
    assert not untranslated, untranslated[:5]


@pytest.mark.parametrize("language", ["es", "fr"])
def test_the_compiled_catalogue_matches_its_source(language):
    def pairs(messages):
        return {_hashable(message.id): _hashable(message.string) for message in messages
                if message.id}

    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo", "rb") as handle:
        compiled = pairs(read_mo(handle))
    source = pairs(_catalog(language))
    assert compiled == source, "run `make translations` to compile the catalogues"
