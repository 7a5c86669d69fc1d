"""Languages and time zones of the pages: Spanish first, then English and French.

The language is the signed-in user's own choice; before sign-in it is the one picked on
the page (kept in the session), else the browser's best match, else Spanish. Dates are
shown in the time zone of the user's facility (UTC for accounts without one).
"""

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import request, session
from flask_login import current_user

LANGUAGES = {"es": "Español", "en": "English", "fr": "Français"}
DEFAULT_LANGUAGE = "es"


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    chosen = session.get("language")
    if chosen in LANGUAGES:
        return chosen
    if request:
        return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def zone_of(facility) -> tuple[tzinfo, str]:
    """A facility's time zone and its name; UTC when it has none this host knows."""
    name = facility.timezone if facility is not None else None
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a zone this host does not know: UTC is still right, just less handy
    return UTC, "UTC"


def select_timezone() -> str | None:
    if current_user and current_user.is_authenticated:
        return zone_of(current_user.facility)[1]
    return None


def facility_zone(user) -> tzinfo:
    """The time zone of the user's facility, as a zoneinfo zone (UTC when unknown)."""
    return zone_of(user.facility)[0]
