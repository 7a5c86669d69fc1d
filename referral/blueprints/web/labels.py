"""Words for the codes of API.md, in the page's language.

The codes stay English in the data and the API; the pages show them through the
translation catalogue. Country and language names come from CLDR (Babel), so a new
nationality needs no catalogue entry.
"""

from flask_babel import get_locale, get_translations
from flask_babel import lazy_gettext as _l

from referral.services.reasons import LANGUAGES as LANGUAGE_NAMES
from referral.services.reasons import Reason

# The nationalities seen most at these border posts, offered first.
COMMON_NATIONALITIES = ("HN", "GT", "SV", "NI", "MX", "VE", "HT", "CU", "CO", "EC", "CR", "PA",
                        "DO", "PE", "BR", "CM", "AO", "IN", "NP", "BD", "CN", "AF")
COMMON_LANGUAGES = ("es", "en", "fr", "pt", "ht", "quc", "mam", "kek", "cak", "kjb", "cab",
                    "miq", "tzo", "ar", "wo", "hi", "zh")

CODES = {
    # needs
    "injury": _l("Injury"), "acute_illness": _l("Acute illness"),
    "chronic_condition": _l("Chronic condition"), "maternal": _l("Pregnancy or childbirth"),
    "sexual_reproductive_health": _l("Sexual and reproductive health"),
    "hiv_sti": _l("HIV or STI"), "tuberculosis": _l("Tuberculosis"),
    "mental_health": _l("Mental health"), "gbv": _l("Gender-based violence"),
    "trafficking": _l("Trafficking"), "child_protection": _l("Child protection"),
    "shelter": _l("Shelter"), "nutrition": _l("Nutrition"),
    # vulnerabilities
    "unaccompanied_minor": _l("Unaccompanied minor"), "separated_minor": _l("Separated minor"),
    "pregnant": _l("Pregnant"), "trafficking_indicators": _l("Signs of trafficking"),
    "gbv_survivor": _l("GBV survivor"), "disability": _l("Disability"), "lgbti": _l("LGBTI"),
    "elderly": _l("Older person"),
    # services (those not named like a need)
    "primary_care": _l("Primary care"), "emergency_care": _l("Emergency care"),
    "maternal_care": _l("Maternal care"), "gbv_care": _l("GBV care"),
    "trafficking_protection": _l("Protection for trafficking survivors"),
    # sexes
    "female": _l("Female"), "male": _l("Male"), "intersex": _l("Intersex"),
    "unknown": _l("Not known"),
    # urgencies
    "emergency": _l("Emergency"), "urgent": _l("Urgent"), "routine": _l("Routine"),
    # travel directions
    "northbound": _l("Going north"), "southbound": _l("Going south"),
    "returning": _l("Returning home"), "staying": _l("Staying here"),
    # consent
    "verbal": _l("Verbal"), "written": _l("Written"), "self": _l("The person"),
    "guardian": _l("A parent or guardian"),
    # referral and case statuses
    "pending": _l("Waiting for an answer"), "accepted": _l("Accepted"),
    "declined": _l("Declined"), "expired": _l("Expired"), "cancelled": _l("Cancelled"),
    "completed": _l("Completed"), "no_show": _l("Did not come"), "open": _l("Open"),
    "referred": _l("Referred"), "closed": _l("Closed"),
    # share levels
    "minimum": _l("Minimum: pseudonym, sex, age band, languages, needs"),
    "full": _l("Full: adds names, birth date, phone and notes"),
    # decline reasons and outcomes
    "no_capacity": _l("No capacity"), "not_eligible": _l("Not eligible"),
    "service_unavailable": _l("Service not available"),
    "unsafe_for_person": _l("Not safe for the person"), "other": _l("Other"),
    "attended": _l("Attended"), "treated": _l("Treated"), "admitted": _l("Admitted"),
    # follow-ups
    "referral_attendance": _l("Did they reach the referral?"), "safety_check": _l("Safety check"),
    "clinical_review": _l("Clinical review"), "contact": _l("Contact"),
    "reached": _l("Reached"), "not_reached": _l("Could not reach them"),
    "missed": _l("Missed"), "scheduled": _l("Scheduled"), "overdue": _l("Overdue"),
    "done": _l("Done"),
    # notifications
    "referral_received": _l("New referral to answer"),
    "referral_declined": _l("A referral you sent was declined"),
    "referral_expired": _l("A referral you sent got no answer in time"),
    "referral_cancelled": _l("A referral to you was cancelled"),
    "referral_completed": _l("A referral you sent was completed"),
    "follow_up_overdue": _l("A follow-up is overdue"),
    # roles
    "promoter": _l("Health promoter"), "facility_staff": _l("Facility staff"),
    "manager": _l("Program manager"), "admin": _l("Administrator"),
    # facility kinds
    "border_post": _l("Border post"), "clinic": _l("Clinic"), "hospital": _l("Hospital"),
    "mobile_unit": _l("Mobile unit"), "ngo_office": _l("NGO office"),
}


def label(code: str | None) -> str:
    """The word for a code in the page's language (the code itself if it has none)."""
    if code is None:
        return ""
    return str(CODES.get(code, code))


def say(text) -> str:
    """A routing reason in the page's language (any other text as it is)."""
    if not isinstance(text, Reason):
        return text
    values = {name: label(value) if name == "service" else say(value)
              for name, value in text.values.items()}
    translations = get_translations()
    template = (translations.ngettext(text.template, text.plural, text.count)
                if text.plural is not None else translations.gettext(text.template))
    return template.format(count=text.count, **values)


def country_name(code: str | None) -> str:
    if not code:
        return ""
    return get_locale().territories.get(code, code)


def language_name(code: str) -> str:
    name = get_locale().languages.get(code) or LANGUAGE_NAMES.get(code)
    return name or code


def nationality_choices() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(the common nationalities, every other country) as (code, name), by name."""
    territories = get_locale().territories
    common = [(code, territories.get(code, code)) for code in COMMON_NATIONALITIES]
    others = sorted(((code, name) for code, name in territories.items()
                     if len(code) == 2 and code.isalpha() and code not in COMMON_NATIONALITIES
                     and code not in ("ZZ", "EU", "UN", "EZ", "QO", "XA", "XB")),
                    key=lambda item: item[1])
    return sorted(common, key=lambda item: item[1]), others


def language_choices() -> list[tuple[str, str]]:
    return [(code, language_name(code)) for code in COMMON_LANGUAGES]
