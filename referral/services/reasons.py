"""Why routing ranked a facility where it did: English for the API, translatable for pages.

A reason is a `str` (its English text, as API.md's `reasons` promise), which also keeps
the template and the values it was made from, so a page can say it in the reader's
language (`blueprints/web/labels.say`). Templates use `str.format` fields; a value that
is itself a reason is translated in turn.
"""

from datetime import datetime

LANGUAGES = {
    "es": "Spanish", "en": "English", "fr": "French", "pt": "Portuguese", "ht": "Haitian Creole",
    "quc": "K'iche'", "mam": "Mam", "kek": "Q'eqchi'", "cak": "Kaqchikel", "tzj": "Tz'utujil",
    "kjb": "Q'anjob'al", "ixl": "Ixil", "acr": "Achi", "poh": "Poqomchi'", "jac": "Popti'",
    "cab": "Garifuna", "miq": "Miskito", "gym": "Ngäbere", "cuk": "Guna", "tzo": "Tzotzil",
    "tzh": "Tzeltal", "nah": "Nahuatl", "ar": "Arabic", "wo": "Wolof", "hi": "Hindi",
    "ne": "Nepali", "bn": "Bengali", "zh": "Chinese", "ru": "Russian", "ti": "Tigrinya",
}
STALE_AFTER_H = 7 * 24


class Reason(str):
    """English text that remembers its template, plural form, count and values."""

    template: str
    plural: str | None
    count: int | None
    values: dict

    def __new__(cls, template: str, plural: str | None = None, count: int | None = None,
                **values):
        chosen = plural if plural is not None and count != 1 else template
        text = super().__new__(cls, chosen.format(count=count, **values))
        text.template, text.plural, text.count, text.values = template, plural, count, values
        return text


def reason(template: str, **values) -> Reason:
    return Reason(template, **values)


def reason_n(singular: str, plural: str, count: int, **values) -> Reason:
    return Reason(singular, plural, count, **values)


def offers(code: str) -> Reason:
    return reason("offers {service}", service=code)


def _ago(hours: float) -> Reason:
    if hours < 1:
        return reason("less than an hour ago")
    if hours < 48:
        return reason_n("{count} hour ago", "{count} hours ago", int(hours))
    return reason_n("{count} day ago", "{count} days ago", int(hours // 24))


def capacity(free: int | None, updated_at: datetime | None, now: datetime) -> Reason:
    if free is None:
        return reason("capacity not reported")
    figure = reason("full") if free == 0 else reason_n("{count} place free",
                                                      "{count} places free", free)
    if updated_at is None:
        return reason("{figure} (figure not dated)", figure=figure)
    hours = max(0.0, (now - updated_at).total_seconds() / 3600)
    if hours > STALE_AFTER_H:
        return reason("{figure} (figure updated {ago}, may be out of date)", figure=figure,
                      ago=_ago(hours))
    return reason("{figure} (figure updated {ago})", figure=figure, ago=_ago(hours))


def language_name(code: str) -> str:
    """`K'iche' (quc)` for the codes common in the region, the bare code otherwise."""
    name = LANGUAGES.get(code)
    return f"{name} ({code})" if name else code


def languages(spoken: list[str], offered: list[str]) -> Reason:
    shared = [code for code in dict.fromkeys(spoken) if code in offered]
    if not shared:
        return reason("no shared language: plan an interpreter")
    return reason("speaks {languages}", languages=", ".join(language_name(code)
                                                             for code in shared))


def emergency(free: int | None) -> Reason:
    if free is None:
        return reason("emergency: capacity not reported, call ahead")
    if free > 0:
        return reason("emergency: nearest with capacity first")
    return reason("emergency: full")


def distance(km: float | None, confidential: bool) -> Reason:
    if confidential:
        return reason("location confidential")
    if km is None:
        return reason("distance unknown")
    if km < 10:
        return reason("{km} km away", km=f"{km:.1f}")
    return reason("{km} km away", km=str(round(km)))


ROUTES = ("northbound", "southbound", "returning")


def direction(route: str, ahead: bool) -> Reason:
    where = {"northbound": reason("the northbound route"),
             "southbound": reason("the southbound route"),
             "returning": reason("the way back south")}[route]
    if ahead:
        return reason("ahead on {route}", route=where)
    return reason("back along {route}", route=where)


FIXED = {
    "accepts trafficking survivors": lambda: reason("accepts trafficking survivors"),
    "accepts minors": lambda: reason("accepts minors"),
    "women only": lambda: reason("women only"),
}
