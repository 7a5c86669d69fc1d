"""Routing reasons: English for the API, in the reader's language on the pages."""

from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import force_locale

from referral.blueprints.web.labels import say
from referral.services import reasons

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_a_reason_is_its_english_text():
    assert reasons.offers("gbv_care") == "offers gbv_care"
    assert reasons.capacity(17, NOW - timedelta(hours=3), NOW) == \
        "17 places free (figure updated 3 hours ago)"
    assert reasons.capacity(1, NOW - timedelta(days=9), NOW) == \
        "1 place free (figure updated 9 days ago, may be out of date)"
    assert reasons.capacity(0, None, NOW) == "full (figure not dated)"
    assert reasons.distance(4.26, False) == "4.3 km away"
    assert reasons.direction("northbound", True) == "ahead on the northbound route"


@pytest.mark.parametrize(("locale", "expected"), [
    ("es", "1 cupo libre (dato actualizado hace 9 días, puede estar desactualizado)"),
    ("fr", "1 place libre (chiffre mis à jour il y a 9 jours, peut-être dépassé)"),
    ("en", "1 place free (figure updated 9 days ago, may be out of date)"),
])
def test_a_page_says_a_reason_in_its_language(app, locale, expected):
    with app.test_request_context(), force_locale(locale):
        assert say(reasons.capacity(1, NOW - timedelta(days=9), NOW)) == expected


def test_service_codes_in_a_reason_become_their_names(app):
    with app.test_request_context(), force_locale("fr"):
        assert say(reasons.offers("gbv_care")) == "offre Prise en charge VBG"
        assert say(reasons.direction("returning", False)) == \
            "en arrière sur le chemin du retour vers le sud"
        assert say("plain text") == "plain text"
