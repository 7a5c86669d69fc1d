"""Routing: the hard filters (in SQL and in refusals), the score and the reasons."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from referral.extensions import db
from referral.services import routing
from tests.factories import BorderPostFactory, CaseFactory, FacilityFactory

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
ORIGIN = (14.68, -92.15)  # Tecún Umán


def clinic(name, north_km=0.0, east_km=0.0, **fields):
    """A clinic `north_km` north and `east_km` east of the referring post."""
    latitude = ORIGIN[0] + north_km / 111.195
    longitude = ORIGIN[1] + east_km / (111.195 * math.cos(math.radians(latitude)))
    values = {"latitude": latitude, "longitude": longitude,
              "services": ["primary_care", "gbv_care"], "languages": ["es"],
              "capacity_available": 5, "capacity_updated_at": NOW - timedelta(hours=1)}
    return FacilityFactory(name=name, **{**values, **fields})


@pytest.fixture
def post(session):
    return BorderPostFactory(latitude=ORIGIN[0], longitude=ORIGIN[1])


def case_at(post, **fields):
    values = {"urgency": "routine", "travel_direction": "staying", "age_band": "30-49",
              "needs": ["acute_illness"], "vulnerabilities": []}
    return CaseFactory(facility=post, **{**values, **fields})


def ranked(case, services=("primary_care",), **kwargs):
    return routing.rank(db.session, case, list(services), now=NOW, **kwargs)


def names(options):
    return [option.name for option in options]


def option_named(options, name):
    return next(option for option in options if option.name == name)


# Hard filters, each both ways, and refusals saying the same thing.

def test_inactive_facilities_are_left_out(post):
    clinic("Abierta")
    closed = clinic("Cerrada", active=False)
    case = case_at(post)
    assert names(ranked(case)) == ["Abierta"]
    assert routing.refusals(case, closed, ["primary_care"]) == {"to_facility_id": ["Not active."]}


def test_the_cases_own_facility_is_never_an_option(post):
    clinic("Otra")
    case = case_at(post)
    assert "primary_care" in post.services
    assert names(ranked(case)) == ["Otra"]
    assert routing.refusals(case, post, ["primary_care"]) == {
        "to_facility_id": ["Is the case's own facility."]}


def test_a_facility_must_offer_every_service_asked(post):
    both = clinic("Ambos", services=["primary_care", "mental_health"])
    one = clinic("Uno", services=["primary_care"])
    case = case_at(post)
    assert names(ranked(case, ["primary_care", "mental_health"])) == ["Ambos"]
    assert names(ranked(case, ["primary_care"])) == ["Ambos", "Uno"]
    assert routing.refusals(case, one, ["mental_health", "primary_care", "tuberculosis"]) == {
        "services": ["Does not offer mental_health.", "Does not offer tuberculosis."]}
    assert routing.refusals(case, both, ["primary_care", "mental_health"]) == {}


@pytest.mark.parametrize("minor", [{"age_band": "12-17"}, {"age_band": "0-4"},
                                   {"vulnerabilities": ["unaccompanied_minor"]},
                                   {"vulnerabilities": ["separated_minor"]}])
def test_minors_go_only_to_facilities_that_accept_minors(post, minor):
    clinic("Acepta menores", accepts_minors=True)
    adults = clinic("Solo adultos", accepts_minors=False)
    child = case_at(post, **minor)
    assert names(ranked(child)) == ["Acepta menores"]
    assert "accepts minors" in ranked(child)[0].reasons
    assert routing.refusals(child, adults, ["primary_care"]) == {
        "to_facility_id": ["Does not accept minors."]}
    adult = case_at(post, age_band="18-29")
    assert names(ranked(adult)) == ["Acepta menores", "Solo adultos"]
    assert "accepts minors" not in ranked(adult)[0].reasons


def test_a_women_only_facility_takes_only_women(post):
    clinic("Casa de mujeres", accepts_women_only=True)
    mixed = clinic("Mixta")
    women = clinic("Solo mujeres", accepts_women_only=True)
    female = case_at(post, sex="female")
    assert names(ranked(female)) == ["Casa de mujeres", "Mixta", "Solo mujeres"]
    assert "women only" in option_named(ranked(female), "Solo mujeres").reasons
    for sex in ("male", "intersex", "unknown"):
        other = case_at(post, sex=sex)
        assert names(ranked(other)) == ["Mixta"]
        assert routing.refusals(other, women, ["primary_care"]) == {
            "to_facility_id": ["Takes women only."]}
        assert routing.refusals(other, mixed, ["primary_care"]) == {}


@pytest.mark.parametrize("survivor", [{"needs": ["trafficking"]},
                                      {"vulnerabilities": ["trafficking_indicators"]}])
def test_trafficking_survivors_go_only_where_they_are_accepted(post, survivor):
    clinic("Refugio protegido", accepts_trafficking_survivors=True)
    plain = clinic("Clínica", accepts_trafficking_survivors=False)
    case = case_at(post, **survivor)
    options = ranked(case)
    assert names(options) == ["Refugio protegido"]
    assert "accepts trafficking survivors" in options[0].reasons
    assert routing.refusals(case, plain, ["primary_care"]) == {
        "to_facility_id": ["Does not accept trafficking survivors."]}
    assert names(ranked(case_at(post))) == ["Clínica", "Refugio protegido"]
    assert "accepts trafficking survivors" not in ranked(case_at(post))[1].reasons


@pytest.mark.parametrize("survivor", [{"needs": ["gbv"]}, {"vulnerabilities": ["gbv_survivor"]}])
def test_gbv_survivors_go_to_gbv_care_or_a_protected_shelter(post, survivor):
    clinic("Atención VBG", services=["primary_care", "gbv_care"])
    clinic("Refugio protegido", services=["primary_care"], accepts_trafficking_survivors=True)
    neither = clinic("Ninguno", services=["primary_care"])
    case = case_at(post, **survivor)
    options = ranked(case)
    assert names(options) == ["Atención VBG", "Refugio protegido"]
    assert "offers gbv_care" in options[0].reasons
    assert "accepts trafficking survivors" in options[1].reasons
    assert routing.refusals(case, neither, ["primary_care"]) == {"to_facility_id": [
        "Does not take GBV survivors: no gbv_care and not a protected shelter."]}
    assert "Ninguno" in names(ranked(case_at(post)))


def test_refusals_agree_with_the_ranking_for_every_combination(post):
    facilities = [
        clinic(f"F{n}", services=services, accepts_minors=minors, accepts_women_only=women,
               accepts_trafficking_survivors=trafficking, active=active)
        for n, (services, minors, women, trafficking, active) in enumerate([
            (["primary_care"], True, False, False, True),
            (["primary_care", "gbv_care"], False, False, False, True),
            (["primary_care"], True, True, True, True),
            (["primary_care", "gbv_care", "mental_health"], True, False, True, True),
            (["mental_health"], True, False, False, True),
            (["primary_care", "gbv_care"], True, True, False, False),
        ])
    ]
    cases = [case_at(post, sex=sex, age_band=band, needs=needs, vulnerabilities=vulnerable)
             for sex in ("female", "male") for band in ("5-11", "30-49")
             for needs, vulnerable in ((["acute_illness"], []), (["gbv"], []),
                                       (["trafficking"], ["gbv_survivor"]))]
    seen = set()
    for case in cases:
        for services in (["primary_care"], ["mental_health", "gbv_care"]):
            offered = set(names(ranked(case, services, limit=50)))
            for facility in [*facilities, post]:
                refused = routing.refusals(case, facility, services)
                assert (facility.name in offered) == (refused == {}), (case.sex, facility.name)
                seen.add(refused == {})
    assert seen == {True, False}


def test_excluded_facilities_are_left_out(post):
    first = clinic("Primera")
    clinic("Segunda")
    case = case_at(post)
    assert names(ranked(case, exclude=[first.id])) == ["Segunda"]
    assert names(ranked(case, exclude=[str(first.id)])) == ["Segunda"]
    assert names(ranked(case, limit=1)) == ["Primera"]


# The score and the reasons.

def test_nearer_facilities_rank_first(post):
    clinic("Lejos", north_km=200)
    clinic("Cerca", east_km=5)
    clinic("Medio", east_km=-50)
    clinic("Sin coordenadas", latitude=None, longitude=None)
    options = ranked(case_at(post))
    assert names(options) == ["Cerca", "Medio", "Sin coordenadas", "Lejos"]
    assert [option.distance_km for option in options] == [5.0, 50.0, None, 200.0]
    assert "5.0 km away" in options[0].reasons and "50 km away" in options[1].reasons
    assert "distance unknown" in options[2].reasons


def test_extras_never_make_up_for_a_facility_a_country_away(post):
    clinic("Cerca, llena, en inglés", north_km=10, capacity_available=0, languages=["en"])
    clinic("A 1500 km, con todo", north_km=1500, capacity_available=10, languages=["es"])
    options = ranked(case_at(post, travel_direction="northbound"))
    assert names(options) == ["Cerca, llena, en inglés", "A 1500 km, con todo"]
    assert "1500 km away" in options[1].reasons


def test_free_places_rank_above_unknown_capacity_and_full(post):
    clinic("Llena", capacity_available=0)
    clinic("Sin dato", capacity_available=None, capacity_updated_at=None)
    clinic("Con lugar", capacity_available=3, capacity_updated_at=NOW - timedelta(days=2))
    options = ranked(case_at(post))
    assert names(options) == ["Con lugar", "Sin dato", "Llena"]
    assert options[0].capacity_available == 3
    assert "3 places free (figure updated 2 days ago)" in options[0].reasons
    assert "capacity not reported" in options[1].reasons
    assert "full (figure updated 1 hour ago)" in options[2].reasons


def test_a_stale_capacity_figure_counts_less_and_says_so(post):
    clinic("Dato viejo", capacity_available=10, capacity_updated_at=NOW - timedelta(days=12))
    clinic("Dato fresco", capacity_available=1, capacity_updated_at=NOW - timedelta(hours=5))
    options = ranked(case_at(post))
    assert names(options) == ["Dato fresco", "Dato viejo"]
    assert "1 place free (figure updated 5 hours ago)" in options[0].reasons
    assert "10 places free (figure updated 12 days ago, may be out of date)" in options[1].reasons


def test_speaking_the_persons_languages_ranks_first(post):
    clinic("Español", languages=["es"])
    clinic("Inglés", languages=["en"])
    clinic("K'iche' y español", languages=["es", "quc"])
    case = case_at(post, subject__languages=["quc", "es"])
    options = ranked(case)
    assert names(options) == ["K'iche' y español", "Español", "Inglés"]
    assert "speaks K'iche' (quc), Spanish (es)" in options[0].reasons
    assert "speaks Spanish (es)" in options[1].reasons
    assert "no shared language: plan an interpreter" in options[2].reasons
    unrecorded = ranked(case_at(post, subject__languages=[]))
    assert option_named(unrecorded, "Inglés").score > options[2].score
    assert not any("speaks" in text or "language" in text for text in unrecorded[0].reasons)


def test_a_language_without_a_known_name_is_shown_as_its_code(post):
    clinic("Rara", languages=["zzx"])
    assert "speaks zzx" in ranked(case_at(post, subject__languages=["zzx"]))[0].reasons


@pytest.mark.parametrize(("direction", "first", "reason"), [
    ("northbound", "Al norte", "ahead on the northbound route"),
    ("southbound", "Al sur", "ahead on the southbound route"),
    ("returning", "Al sur", "ahead on the way back south"),
])
def test_facilities_ahead_on_the_route_rank_first(post, direction, first, reason):
    clinic("Al norte", north_km=80)
    clinic("Al sur", north_km=-80)
    options = ranked(case_at(post, travel_direction=direction))
    assert names(options)[0] == first
    assert reason in options[0].reasons
    assert any(text.startswith("back along") for text in options[1].reasons)


@pytest.mark.parametrize("direction", ["staying", "unknown"])
def test_without_a_direction_equal_facilities_tie_by_name(post, direction):
    clinic("B al norte", north_km=80)
    clinic("A al sur", north_km=-80)
    options = ranked(case_at(post, travel_direction=direction))
    assert names(options) == ["A al sur", "B al norte"]
    assert options[0].score == options[1].score
    assert not any("route" in text for option in options for text in option.reasons)


def test_ties_are_broken_by_name_then_code(post):
    clinic("Igual", code="CL-B")
    clinic("Igual", code="CL-A")
    clinic("Antes")
    assert [option.facility.code for option in ranked(case_at(post))][1:] == ["CL-A", "CL-B"]


def test_emergency_favours_the_nearest_with_capacity(post):
    clinic("Cerca y llena", east_km=1, capacity_available=0)
    clinic("Cerca con un lugar", east_km=5, capacity_available=1, languages=["en"])
    clinic("A 25 km y amplia", east_km=25, capacity_available=10, languages=["es"])
    clinic("Lejos y amplia", east_km=60, capacity_available=10, languages=["es"])
    routine = ranked(case_at(post, urgency="routine"))
    assert names(routine)[:2] == ["A 25 km y amplia", "Lejos y amplia"]
    emergency = ranked(case_at(post, urgency="emergency"))
    assert names(emergency) == ["Cerca con un lugar", "A 25 km y amplia", "Lejos y amplia",
                                "Cerca y llena"]
    assert "emergency: nearest with capacity first" in emergency[0].reasons
    assert "emergency: full" in emergency[3].reasons


def test_confidential_facilities_are_ranked_without_revealing_where(post):
    clinic("Refugio confidencial", east_km=5, north_km=60, confidential=True)
    clinic("Pública lejana", north_km=250)
    options = ranked(case_at(post, travel_direction="northbound"))
    assert names(options) == ["Refugio confidencial", "Pública lejana"]
    hidden = options[0]
    assert hidden.distance_km is None
    assert "location confidential" in hidden.reasons
    assert not any("km" in text or "route" in text for text in hidden.reasons)
    assert "ahead on the northbound route" in options[1].reasons


def test_a_confidential_score_does_not_reveal_the_exact_distance(post):
    for name, km, confidential in (("C1", 30, True), ("C2", 40, True), ("P1", 30, False),
                                   ("P2", 40, False)):
        clinic(name, north_km=km, confidential=confidential)
    scores = {option.name: option.score
              for option in ranked(case_at(post))}
    assert scores["C1"] == scores["C2"]
    assert scores["P1"] > scores["P2"]


def test_options_expose_what_the_output_schema_dumps(post):
    facility = clinic("Clínica")
    option = ranked(case_at(post))[0]
    assert (option.facility_id, option.name, option.kind) == (facility.id, "Clínica", "clinic")
    assert option.facility is facility and isinstance(option.score, float)
