"""Messages of the API's schemas and services that the pages show next to a field.

They are English in the API (its contract); listed here so the catalogue extractor finds
them and the pages can show them in the promoter's language.
"""

from flask_babel import lazy_gettext as _l

SHOWN_ON_PAGES = (
    _l("No record without consent to collect data."),
    _l("Not a valid integer."),
    _l("Not a valid date."),
    _l("Must be greater than or equal to 0 and less than or equal to 120."),
    _l("Give one of birth_date, birth_year or age_estimate."),
    _l("Give either a pseudonym or identifying fields, not both."),
    _l("Must be between 1900-01-01 and today."),
    _l("Not a phone number."),
    _l("Not a valid pseudonym (XXXX-XXXX-X, check character)."),
    _l("Longer than maximum length 100."),
    _l("Longer than maximum length 2000."),
    _l("Longer than maximum length 5000."),
    _l("Missing data for required field."),
    _l("Must be one of: attended, treated, admitted, no_show."),
    _l("No consent to share this case with a facility."),
    _l("No such facility."),
    _l("Not active."),
    _l("Does not accept minors."),
    _l("Takes women only."),
    _l("Does not accept trafficking survivors."),
    _l("Does not take GBV survivors: no gbv_care and not a protected shelter."),
    _l("the case is closed: reopen it to refer the person"),
    _l("the person's record was erased"),
    _l("this case already has a live referral to this facility"),
    _l("Already taken."),
    _l("Must be 1 to 80 characters."),
    _l("Required for this role."),
    _l("No facility with this code."),
    _l("Not a valid number."),
    _l("Must be greater than or equal to -90 and less than or equal to 90."),
    _l("Must be greater than or equal to -180 and less than or equal to 180."),
    _l("an admin cannot deactivate their own account"),
)
