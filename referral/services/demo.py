"""The demo: a directory made from the reference data, demo accounts, synthetic people.

Everything here is fictional. Facilities come from referral/data (border crossings and
the towns near them); people and their intakes are drawn from a seeded random source, so
each demo tells the same story. demo_referrals records the intakes through
intake.create_case, as a tablet's would, and plays out their referrals.
"""

import csv
import functools
import io
import json
import random
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.models import Case, Facility, User
from referral.services import auth, directory

COUNTRY_NAMES = {"MX": "México", "GT": "Guatemala", "SV": "El Salvador", "HN": "Honduras",
                 "NI": "Nicaragua", "CR": "Costa Rica", "PA": "Panamá"}
TIMEZONES = {"MX": "America/Mexico_City", "GT": "America/Guatemala",
             "SV": "America/El_Salvador", "HN": "America/Tegucigalpa",
             "NI": "America/Managua", "CR": "America/Costa_Rica", "PA": "America/Panama"}
# Staff speak Spanish, and English at most places; demo.json adds what is spoken nearby.
COUNTRY_LANGUAGES = {"GT": ["es"]}  # elsewhere ["es", "en"]
SMALL_TOWNS = {"Huixtla", "Tenosique", "Esquipulas", "Nacaome", "Ocotepeque"}
# Where each country's confidential survivors' shelter is: a large city, easier to hide in.
SAFE_HOUSE_CITY = {"MX": "Tapachula", "GT": "Guatemala City", "SV": "San Salvador",
                   "HN": "San Pedro Sula", "NI": "Managua", "CR": "San José", "PA": "Panama City"}
CLINIC_NAME = {"SV": "Unidad de Salud {}", "CR": "EBAIS {}", "MX": "Centro de Salud {}"}
HOSPITAL_NAME = {"SV": "Hospital Nacional {}", "GT": "Hospital Regional {}",
                 "MX": "Hospital General {}"}
SHELTER_NAME = {"MX": "Casa del Migrante {}", "GT": "Casa del Migrante {}"}


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    facility_code: str | None


USERS = (
    DemoUser("promotor.amatillo", "promoter", "BP-SV-EL-AMATILLO"),
    DemoUser("promotor.hachadura", "promoter", "BP-SV-LA-HACHADURA"),
    DemoUser("promotor.tecun", "promoter", "BP-GT-TECUN-UMAN"),
    DemoUser("promotor.penasblancas", "promoter", "BP-CR-PENAS-BLANCAS"),
    DemoUser("clinica.santarosa", "facility_staff", "CL-SV-SANTA-ROSA-DE-LIMA"),
    DemoUser("hospital.sanmiguel", "facility_staff", "HO-SV-SAN-MIGUEL"),
    DemoUser("albergue.casasegura", "facility_staff", "SH-SV-CASA-SEGURA"),
    DemoUser("gerente", "manager", None),
    DemoUser("admin", "admin", None),
)


def _text(name: str) -> str:
    return resources.files("referral").joinpath("data", name).read_text("utf-8")


def read_data(name: str) -> list[dict]:
    """A CSV shipped in referral/data, as dicts."""
    return list(csv.DictReader(io.StringIO(_text(name))))


@functools.cache
def details() -> dict:
    """demo.json: places' languages and provinces; people's names, aliases and notes."""
    return json.loads(_text("demo.json"))


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text).upper().split())


def _facility(code, name, kind, place, admin_area, services, capacity, **extra) -> dict:
    rng = random.Random(f"demo:{code}")  # stable per code: the same directory every run
    country = code.split("-")[1]
    languages = COUNTRY_LANGUAGES.get(country, ["es", "en"]) + details()["places"][
        "languages"].get(place["name"], [])
    total = rng.randint(*capacity)
    timezone = ("America/Cancun" if admin_area == "Quintana Roo" else TIMEZONES[country])
    return {
        "code": code, "name": name, "kind": kind, "country": country, "admin_area": admin_area,
        "latitude": float(place["latitude"]), "longitude": float(place["longitude"]),
        "timezone": timezone, "services": services, "languages": list(dict.fromkeys(languages)),
        "capacity_total": total, "capacity_available": rng.randint(0, total),
        "accepts": {"minors": True, "women_only": False, "trafficking_survivors": True},
        "confidential": False, "active": True, **extra,
    }


def _pick(code: str, optional: list[str], share: float) -> list[str]:
    rng = random.Random(f"demo:services:{code}")
    return [service for service in optional if rng.random() < share]


def _border_post(post: dict) -> dict:
    area = details()["places"]["post_admin_areas"].get(post["code"])
    label = details()["places"]["display_names"].get(post["name"], post["name"])
    return _facility(post["code"], f"Puesto de salud {label} ({post['country']})",
                     "border_post", post, area, ["emergency_care", "primary_care"], (4, 12))


def _town_facilities(town: dict) -> list[dict]:
    cc, area = town["country"], town["admin_area"]
    label = details()["places"]["display_names"].get(town["name"], town["name"])
    code = f"{cc}-{slug(town['name'])}"
    items = [_facility(
        f"CL-{code}", CLINIC_NAME.get(cc, "Centro de Salud {}").format(label), "clinic", town,
        area, ["hiv_sti", "maternal_care", "mental_health", "primary_care",
               "sexual_reproductive_health"]
        + _pick(f"CL-{code}", ["gbv_care", "nutrition", "tuberculosis"], 0.5), (20, 60))]
    if town["name"] not in SMALL_TOWNS:
        items.append(_facility(
            f"HO-{code}", HOSPITAL_NAME.get(cc, "Hospital {}").format(label), "hospital", town,
            area, ["emergency_care", "maternal_care", "sexual_reproductive_health", "hiv_sti"]
            + _pick(f"HO-{code}", ["gbv_care", "mental_health", "tuberculosis"], 0.7),
            (80, 400)))
    items.append(_facility(
        f"SH-{code}", SHELTER_NAME.get(cc, "Albergue {}").format(label), "shelter", town, area,
        ["child_protection", "nutrition", "shelter"]
        + _pick(f"SH-{code}", ["mental_health", "primary_care"], 0.4), (30, 160),
        accepts={"minors": True, "women_only": False, "trafficking_survivors": False}))
    return items


def _safe_house(country: str, places: list[dict]) -> dict:
    """The country's confidential shelter: its code and name say nothing of where it is."""
    city = next((p for p in places if p["name"] == SAFE_HOUSE_CITY.get(country)),
                next(p for p in places if p["country"] == country))
    rng = random.Random(f"demo:safe-house:{country}")
    # A few km off the city centre: the coordinates are fictional, like the shelter.
    area = city.get("admin_area") or details()["places"]["post_admin_areas"].get(city.get("code"))
    place = {"name": city["name"],
             "latitude": round(float(city["latitude"]) + rng.uniform(-.04, .04), 4),
             "longitude": round(float(city["longitude"]) + rng.uniform(-.04, .04), 4)}
    return _facility(
        f"SH-{country}-CASA-SEGURA", f"Casa Segura ({COUNTRY_NAMES.get(country, country)})",
        "shelter", place, area,
        ["gbv_care", "mental_health", "shelter", "trafficking_protection"], (10, 30),
        accepts={"minors": True, "women_only": True, "trafficking_survivors": True},
        confidential=True)


def build_directory() -> list[dict]:
    """The demo directory as API-shaped facility objects (what `facilities import` takes)."""
    posts, towns = read_data("border-crossings.csv"), read_data("towns.csv")
    items = [_border_post(post) for post in posts]
    for town in towns:
        items.extend(_town_facilities(town))
    countries = dict.fromkeys(row["country"] for row in posts + towns)
    items.extend(_safe_house(country, towns + posts) for country in countries)
    return items


def import_directory(session: Session, now: datetime) -> dict[str, int]:
    """Create what is missing; an existing facility keeps its live capacity figure."""
    items = build_directory()
    existing = set(session.scalars(sa.select(Facility.code)))
    for item in items:
        if item["code"] in existing:
            del item["capacity_available"]
    return directory.import_facilities(session, items, None, now)


def new_password() -> str:
    """Random and easy to type: three groups of four (about 59 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def foreign_database(session: Session) -> bool:
    """True when the database has accounts but none of the demo's: not a demo database."""
    usernames = set(session.scalars(sa.select(User.username)))
    return bool(usernames) and not usernames & {user.username for user in USERS}


def ensure_users(session: Session, make_password=new_password) -> list[tuple[DemoUser, str | None]]:
    """Create the missing demo accounts; the password of an existing one is None."""
    result = []
    for spec in USERS:
        if session.scalar(sa.select(User.id).where(User.username == spec.username)):
            result.append((spec, None))
            continue
        password = make_password()
        auth.create_user(session, spec.username, password, spec.role, spec.facility_code)
        result.append((spec, password))
    return result


# -- synthetic people and intakes ----------------------------------------------------------

# Who passes the posts: the northern posts see more Central Americans (and people coming
# home), the southern ones more Venezuelans, Haitians, Ecuadorians, Colombians, Cubans and
# migrants from other continents.
NATIONALITIES = {
    "north": {"HN": 30, "GT": 18, "SV": 14, "NI": 8, "VE": 12, "HT": 6, "CU": 5, "EC": 3,
              "CO": 2, "CM": 0.5, "AF": 0.3, "IN": 0.5, None: 1},
    "south": {"VE": 38, "HT": 12, "EC": 12, "CO": 10, "CU": 6, "NI": 6, "HN": 3, "CM": 2,
              "AF": 1.5, "IN": 2, "CN": 1.5, None: 1.5},
}
SPOKEN = {"HT": ["ht", "fr"], "CM": ["fr", "en"], "AF": ["prs", "ps"], "IN": ["pa", "hi"],
          "CN": ["zh"]}
ALSO_SPOKEN = {"GT": ["quc", "mam", "kek"], "HN": ["cab"], "EC": ["qu"]}
CALLING_CODES = {"HN": "504", "GT": "502", "SV": "503", "NI": "505", "VE": "58", "HT": "509",
                 "CU": "53", "EC": "593", "CO": "57", "CM": "237", "AF": "93", "IN": "91"}
AGES = {(0, 4): 5, (5, 11): 6, (12, 17): 9, (18, 29): 40, (30, 49): 32, (50, 59): 5,
        (60, 78): 3}
GENERAL_NEEDS = {"acute_illness": 28, "injury": 20, "chronic_condition": 10, "shelter": 10,
                 "mental_health": 9, "sexual_reproductive_health": 8, "nutrition": 7,
                 "hiv_sti": 3, "tuberculosis": 1}
NEED_OF = {"pregnant": "maternal", "unaccompanied_minor": "child_protection",
           "separated_minor": "child_protection", "gbv_survivor": "gbv",
           "trafficking_indicators": "trafficking"}


class Person(NamedTuple):
    pseudonym: str | None
    sex: str
    age: int
    nationality: str | None
    languages: list


def _weighted(rng: random.Random, table: dict):
    return rng.choices(list(table), weights=list(table.values()))[0]


def _new_person(rng: random.Random, region: str) -> Person:
    sex = _weighted(rng, {"male": 57, "female": 40, "intersex": 0.5, "unknown": 2.5})
    age = rng.randint(*_weighted(rng, AGES))
    nationality = _weighted(rng, NATIONALITIES[region])
    languages = list(SPOKEN.get(nationality, ["es"]))
    if nationality in ALSO_SPOKEN and rng.random() < 0.25:
        languages.insert(0, rng.choice(ALSO_SPOKEN[nationality]))
    elif nationality in SPOKEN and rng.random() < 0.3:
        languages.append("es")  # picked up on the way
    return Person(None, sex, age, nationality, languages)


def _identity(rng: random.Random, person: Person, day) -> dict:
    """A new subject: a full name, an alias only, or no name; one kind of age."""
    fields = {"sex": person.sex, "nationality": person.nationality,
              "languages": person.languages}
    people = details()["people"]
    names = people["names"].get(person.nationality) or people["names"]["es"]
    given = names.get(person.sex) or names["female"] + names["male"]
    roll = rng.random()
    if roll < 0.55:
        fields["given_name"] = rng.choice(given)
        surnames = 2 if person.nationality not in SPOKEN and rng.random() < 0.7 else 1
        fields["family_name"] = " ".join(rng.sample(names["family"], surnames))
        if person.age >= 14 and rng.random() < 0.3:
            code = CALLING_CODES.get(person.nationality, "1")
            fields["phone"] = f"+{code} 5550 {rng.randint(0, 9999):04d}"  # fictional range
    elif roll < 0.75:
        fields["given_name"] = rng.choice(people["aliases"])
    kind = rng.random()
    if kind < 0.35:
        born = day.replace(year=day.year - person.age, day=min(day.day, 28))
        fields["birth_date"] = (born - timedelta(days=rng.randint(1, 360))).isoformat()
    elif kind < 0.7:
        fields["birth_year"] = day.year - person.age
    else:
        fields["age_estimate"] = person.age
    return fields


def _situation(rng: random.Random, person: Person) -> tuple[list[str], list[str]]:
    """Vulnerabilities, and the needs they and everyday complaints bring."""
    age, female, found = person.age, person.sex == "female", set()
    if 12 <= age <= 17:
        roll = rng.random()
        found |= {"unaccompanied_minor"} if roll < 0.35 else (
            {"separated_minor"} if roll < 0.47 else set())
    elif 5 <= age <= 11 and rng.random() < 0.05:
        found.add("separated_minor")
    chances = {"pregnant": 0.12 if female and 15 <= age <= 45 else 0,
               "gbv_survivor": (0.09 if female else 0.02) if age >= 12 else 0,
               "trafficking_indicators": (0.04 if female else 0.02) if age >= 12 else 0,
               "disability": 0.03, "lgbti": 0.04 if age >= 15 else 0}
    found |= {name for name, chance in chances.items() if rng.random() < chance}
    if age >= 60:
        found.add("elderly")
    needs = {NEED_OF[name] for name in found if name in NEED_OF}
    if age <= 4 and rng.random() < 0.35:
        needs.add("nutrition")
    while not needs or (len(needs) < 3 and rng.random() < 0.35):
        needs.add(_weighted(rng, GENERAL_NEEDS))
    return sorted(needs), sorted(found)


def case_body(rng: random.Random, facility: Facility, at: datetime,
              person: Person | None = None, scene=None) -> tuple[dict, Person]:
    """A POST /cases body for an intake at `facility` received at `at`.

    A returning `person` is named by their pseudonym; a `scene` (demo_plans) fixes who
    comes, what they need and how urgently, and that they agree to share the case."""
    region = "south" if facility.country in ("NI", "CR", "PA") else "north"
    if person is None:
        person = _new_person(rng, region)
        if scene is not None:
            person = person._replace(sex=scene.sex, age=scene.age)
        subject = _identity(rng, person, at.date())
    else:
        subject = {"pseudonym": person.pseudonym}
    needs, vulnerabilities = _situation(rng, person)
    serious = {"gbv", "trafficking", "child_protection", "injury"} & set(needs)
    urgency = _weighted(rng, {"routine": 30, "urgent": 50, "emergency": 20} if serious
                        else {"routine": 65, "urgent": 28, "emergency": 7})
    if scene is not None:
        needs, vulnerabilities = list(scene.needs), list(scene.vulnerabilities)
        urgency = scene.urgency
    home = person.nationality == facility.country
    direction = _weighted(rng, {"returning": 45, "staying": 20, "northbound": 25, "unknown": 10}
                          if home else
                          {"northbound": 82, "southbound": 8, "staying": 4, "unknown": 6})
    body = {
        "subject": subject,
        "consent": {"data_collection": True,
                    "referral_sharing": rng.random() < 0.85 or scene is not None,
                    "follow_up_contact": rng.random() < 0.6 or scene is not None,
                    "method": "written" if rng.random() < 0.15 else "verbal",
                    "given_by": "guardian" if person.age < 12 else "self"},
        "needs": needs, "urgency": urgency, "vulnerabilities": vulnerabilities,
        "travel_direction": direction,
    }
    if rng.random() < 0.75:
        body["notes"] = " ".join(rng.choice(details()["people"]["notes"][need])
                                 for need in rng.sample(needs, min(2, len(needs))))
    if rng.random() < 0.2:  # captured offline on the tablet, synced later
        body["client_uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        captured = at - timedelta(minutes=rng.randint(15, 480))
        body["captured_at"] = captured.strftime("%Y-%m-%dT%H:%M:%SZ")
    return body, person


def case_count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count(Case.id)))
