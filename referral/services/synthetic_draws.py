"""Who `flask synthetic` draws: who comes to which post, at what age, speaking what, needing
what (synthetic_fates: what becomes of their referrals). Plain functions of a seeded random
source; no database.

The skews are deliberate (DESIGN.md, Statistics): a few busy crossings and many quiet ones,
a handful of nationalities and a long tail of rare ones, so that some statistical cells
hold one or two people, as they do in real data.
"""

import bisect
import functools
import json
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources

from referral.services import intake
from referral.services.demo import NEED_OF  # the needs a vulnerability brings, as the demo


class Weighted:
    """A weighted table drawn in O(log n) (rng.choices would rebuild it every call)."""

    def __init__(self, table: dict):
        self.keys = list(table)
        self.cumulative, total = [], 0.0
        for weight in table.values():
            total += weight
            self.cumulative.append(total)
        self.total = total

    def draw(self, rng: random.Random):
        return self.keys[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


# Intake points of the demo directory (referral/data) and how busy they are; a directory
# with other codes gets a weight per code drawn from the code itself (site_weight).
BUSY = {
    "BP-MX-CIUDAD-HIDALGO": 13, "BP-GT-TECUN-UMAN": 12, "BP-SV-EL-AMATILLO": 10,
    "BP-HN-EL-AMATILLO": 9, "BP-CR-PASO-CANOAS": 7, "BP-PA-LAJAS-BLANCAS": 6,
    "BP-NI-PENAS-BLANCAS": 5, "BP-CR-PENAS-BLANCAS": 5, "BP-HN-LAS-MANOS": 4,
    "BP-MX-TALISMAN": 4, "BP-GT-EL-CARMEN": 3, "BP-HN-GUASAULE": 3, "BP-SV-LA-HACHADURA": 3,
    "BP-GT-PEDRO-DE-ALVARADO": 2, "BP-HN-AGUA-CALIENTE": 2, "BP-GT-LA-MESILLA": 1.5,
    "BP-MX-CIUDAD-CUAUHTEMOC": 1.5, "BP-HN-CORINTO": 1.2, "BP-SV-LAS-CHINAMAS": 1,
    "BP-HN-EL-FLORIDO": 0.8, "BP-SV-ANGUIATU": 0.6, "BP-SV-EL-POY": 0.6, "BP-HN-EL-ESPINO": 0.5,
    "BP-MX-EL-CEIBO": 0.4, "BP-CR-SIXAOLA": 0.3, "BP-MX-SUBTENIENTE-LOPEZ": 0.15,
    "CL-MX-TAPACHULA": 4, "CL-SV-SANTA-ROSA-DE-LIMA": 1.2, "CL-GT-COATEPEQUE": 0.8,
    "CL-HN-CHOLUTECA": 0.8, "CL-PA-DAVID": 0.6, "CL-NI-RIVAS": 0.5, "CL-MX-TENOSIQUE": 0.5,
    "CL-CR-LIBERIA": 0.4, "CL-GT-ESQUIPULAS": 0.3, "CL-HN-NACAOME": 0.3,
}
SOUTH = ("NI", "CR", "PA", "CO", "EC", "PE")
# The northern posts see more Central Americans, the southern ones more Venezuelans,
# Haitians, Ecuadorians, Colombians and people from other continents.
NATIONALITIES = {
    "north": {"HN": 26, "GT": 16, "VE": 14, "SV": 11, "NI": 7, "HT": 6, "CU": 5, "EC": 4,
              "CO": 3, "MX": 3, "IN": 0.5, "PE": 0.4, "CM": 0.35, "DO": 0.3, "BR": 0.3,
              "CN": 0.3, "CL": 0.3, "AF": 0.25, "NP": 0.15, "AO": 0.12, "SN": 0.12, "BD": 0.1,
              "ER": 0.06, None: 1},
    "south": {"VE": 34, "EC": 11, "HT": 10, "CO": 9, "NI": 7, "CU": 6, "HN": 3, "PE": 1.2,
              "CM": 1.2, "IN": 1.2, "CN": 1.2, "BR": 1, "CL": 1, "AF": 0.8, "DO": 0.6,
              "NP": 0.6, "GT": 0.5, "SV": 0.5, "AO": 0.5, "SN": 0.5, "BD": 0.4, "ER": 0.25,
              "MX": 0.2, None: 1.5},
}
HOME_BOOST = 1.8  # nationals returning home (deported or coming back) at their own posts
SPOKEN = {"HT": ("ht", "fr"), "BR": ("pt",), "AO": ("pt",), "CM": ("fr", "en"),
          "SN": ("fr", "wo"), "IN": ("hi", "pa", "en"), "NP": ("ne", "en"), "BD": ("bn",),
          "AF": ("prs", "ps"), "CN": ("zh",), "ER": ("ti", "ar")}
# Spanish-speaking countries whose people may speak an indigenous language first (percent).
INDIGENOUS = {"GT": {"quc": 10, "mam": 8, "kek": 6, "cak": 3}, "HN": {"cab": 3, "miq": 1},
              "NI": {"miq": 3}, "EC": {"qu": 3}, "MX": {"tzo": 2, "nah": 1}}
CALLING_CODES = {"HN": "504", "GT": "502", "SV": "503", "NI": "505", "VE": "58", "HT": "509",
                 "CU": "53", "EC": "593", "CO": "57", "MX": "52", "PE": "51", "BR": "55",
                 "CM": "237", "AF": "93", "IN": "91", "CN": "86"}
# Names of people from places demo.json has no list for (fictional combinations).
MORE_NAMES = {
    "pt": {"female": ["Ana", "Joana", "Luzia", "Teresa", "Esperança"],
           "male": ["João", "Manuel", "Domingos", "Paulo", "António"],
           "family": ["Silva", "Santos", "Fernandes", "Baptista", "Neto", "Lopes"]},
    "SN": {"female": ["Awa", "Fatou", "Mariama", "Aminata"],
           "male": ["Moussa", "Ibrahima", "Cheikh", "Mamadou"],
           "family": ["Diop", "Ndiaye", "Fall", "Sarr", "Ba"]},
    "NP": {"female": ["Sita", "Anjali", "Sunita", "Pooja"],
           "male": ["Ram", "Bikash", "Suman", "Prakash"],
           "family": ["Gurung", "Thapa", "Shrestha", "Tamang"]},
    "BD": {"female": ["Nasrin", "Roksana", "Shirin"], "male": ["Rahim", "Karim", "Sohel"],
           "family": ["Hossain", "Rahman", "Islam", "Uddin"]},
    "ER": {"female": ["Senait", "Helen", "Selam"], "male": ["Yonas", "Dawit", "Tesfay"],
           "family": ["Tesfamariam", "Ghebre", "Haile", "Berhane"]},
}
NAME_LIST = {"AO": "pt", "BR": "pt"}
AGES = Weighted({(0, 4): 5, (5, 11): 6, (12, 17): 9, (18, 29): 40, (30, 49): 32, (50, 59): 5,
                 (60, 78): 3})
SEX = Weighted({"male": 55, "female": 42, "intersex": 0.3, "unknown": 2.7})
CHILD_SEX = Weighted({"male": 51, "female": 48, "unknown": 1})
GENERAL_NEEDS = {"acute_illness": 28, "injury": 18, "chronic_condition": 9, "shelter": 10,
                 "mental_health": 9, "sexual_reproductive_health": 8, "nutrition": 7,
                 "hiv_sti": 3, "tuberculosis": 1}
# The most pressing first: it decides the main service of a referral and which needs stay
# when a person has more than three.
NEEDS_FIRST = ("trafficking", "gbv", "child_protection", "maternal", "injury", "tuberculosis",
               "hiv_sti", "acute_illness", "mental_health", "sexual_reproductive_health",
               "nutrition", "chronic_condition", "shelter")
SERIOUS = frozenset({"gbv", "trafficking", "child_protection", "injury"})
URGENCY = {True: Weighted({"routine": 30, "urgent": 50, "emergency": 20}),
           False: Weighted({"routine": 65, "urgent": 28, "emergency": 7})}
DIRECTION = {True: Weighted({"returning": 45, "staying": 20, "northbound": 25, "unknown": 10}),
             False: Weighted({"northbound": 80, "southbound": 9, "staying": 5, "unknown": 6})}


def site_weight(code: str, kind: str) -> float:
    """How busy an intake point is (0: it does no intakes), stable for a facility code."""
    if code in BUSY:
        return BUSY[code]
    if kind not in ("border_post", "clinic"):
        return 0.0
    site = random.Random(f"synthetic:site:{code}")
    if kind == "border_post":
        return 2 * site.lognormvariate(0, 1)
    return 0.5 * site.lognormvariate(0, 0.6) if site.random() < 0.3 else 0.0


@functools.cache
def _demo_people() -> dict:
    text = resources.files("referral").joinpath("data", "demo.json").read_text("utf-8")
    return json.loads(text)["people"]


def _names(nationality: str | None) -> dict:
    lists = _demo_people()["names"]
    key = NAME_LIST.get(nationality, nationality)
    return lists.get(key) or MORE_NAMES.get(key) or lists["es"]


@dataclass(slots=True)
class Person:
    """A subject as the generator keeps it: what its later intakes need to know."""

    sex: str
    nationality: str | None
    languages: list
    birth_date: date | None
    birth_year: int | None
    age_estimate: int | None
    created_at: datetime
    id: uuid.UUID | None = None
    facility_id: uuid.UUID | None = None
    dek: bytes | None = None

    def age_on(self, day: date) -> int | None:
        return intake.age_on(self, day)


@functools.cache
def nationality_table(region: str, home: str) -> Weighted:
    table = dict(NATIONALITIES[region])
    if home in table:
        table[home] *= HOME_BOOST
    return Weighted(table)


def languages_of(rng: random.Random, nationality: str | None) -> list[str]:
    if nationality in SPOKEN:
        spoken = SPOKEN[nationality]
        found = [spoken[0] if nationality != "CM" or rng.random() < 0.7 else spoken[1]]
        found += [code for code in spoken if code not in found and rng.random() < 0.4]
        if rng.random() < 0.3:
            found.append("es")  # picked up on the way (Haitians from Chile or Brazil...)
        return found
    if nationality is None:
        return ["es"] if rng.random() < 0.8 else []
    roll = rng.random() * 100
    for code, percent in INDIGENOUS.get(nationality, {}).items():
        if roll < percent:
            return [code, "es"] if rng.random() < 0.75 else [code]
        roll -= percent
    return ["es", "en"] if rng.random() < 0.02 else ["es"]


def new_person(rng: random.Random, country: str, at: datetime) -> tuple[Person, dict]:
    """A new subject met at a post of `country`, and its identifying fields."""
    age = rng.randint(*AGES.draw(rng))
    sex = (CHILD_SEX if age < 12 else SEX).draw(rng)
    nationality = nationality_table("south" if country in SOUTH else "north", country).draw(rng)
    languages = languages_of(rng, nationality)
    fields = {"given_name": None, "family_name": None, "phone": None}
    names = _names(nationality)
    roll = rng.random()
    if roll < 0.55:
        fields["given_name"] = rng.choice(names.get(sex) or names["female"] + names["male"])
        two = nationality not in SPOKEN and rng.random() < 0.7  # Hispanic naming
        fields["family_name"] = " ".join(rng.sample(names["family"], 2 if two else 1))
        if age >= 14 and rng.random() < 0.3:
            code = CALLING_CODES.get(nationality, "1")
            fields["phone"] = f"+{code} 5550 {rng.randint(0, 9999):04d}"  # a fictional range
    elif roll < 0.75:
        aliases = _demo_people()["aliases"]
        fields["given_name"] = (rng.choice(aliases) if languages[:1] == ["es"]
                                else rng.choice(names["female"] + names["male"]))
    born = birth_year = estimate = None
    kind = rng.random()
    if kind < 0.35:
        born = at.date().replace(year=at.year - age, day=1) - timedelta(days=rng.randint(0, 364))
    elif kind < 0.7:
        birth_year = at.year - age
    else:
        estimate = age
    fields.update(birth_date=born, birth_year=birth_year, age_estimate=estimate, sex=sex,
                  nationality=nationality)
    return Person(sex, nationality, languages, born, birth_year, estimate, at), fields


def situation(rng: random.Random, sex: str, age: int) -> tuple[list[str], list[str]]:
    """Vulnerabilities, and one to three needs that they and everyday complaints bring."""
    female, found = sex == "female", set()
    if 12 <= age <= 17:
        roll = rng.random()
        found |= {"unaccompanied_minor"} if roll < 0.35 else (
            {"separated_minor"} if roll < 0.47 else set())
    elif age < 12 and rng.random() < 0.05:
        found.add("unaccompanied_minor" if age >= 5 and rng.random() < 0.4 else "separated_minor")
    chances = {"pregnant": 0.12 if female and 14 <= age <= 46 else 0,
               "gbv_survivor": (0.09 if female else 0.02) if age >= 12 else 0,
               "trafficking_indicators": (0.04 if female else 0.02) if age >= 12 else 0,
               "disability": 0.03, "lgbti": 0.04 if age >= 15 else 0}
    found |= {name for name, chance in chances.items() if chance and rng.random() < chance}
    if age >= 60:
        found.add("elderly")
    needs = {NEED_OF[name] for name in found if name in NEED_OF}
    if age < 5 and rng.random() < 0.35:
        needs.add("nutrition")
    if female and 12 <= age <= 49 and "pregnant" not in found and rng.random() < 0.02:
        needs.add("maternal")  # after a birth on the way
    general = _general_needs("child" if age < 12 else "older" if age >= 50 else "adult")
    while not needs or (len(needs) < 3 and rng.random() < 0.35):
        needs.add(general.draw(rng))
    return [need for need in NEEDS_FIRST if need in needs][:3], sorted(found)


@functools.cache
def _general_needs(band: str) -> Weighted:
    table = dict(GENERAL_NEEDS)
    if band == "child":
        table.update(sexual_reproductive_health=0, hiv_sti=0, nutrition=25,
                     chronic_condition=3)
    elif band == "older":
        table.update(chronic_condition=30, sexual_reproductive_health=1)
    return Weighted({need: weight for need, weight in table.items() if weight})


def circumstances(rng: random.Random, person: Person, age: int, needs: list[str],
                  vulnerabilities: list[str], country: str) -> dict:
    """Urgency, travel direction, consent and notes of one intake."""
    unaccompanied = "unaccompanied_minor" in vulnerabilities
    guardian = age < 12 or (age < 18 and not unaccompanied and rng.random() < 0.7)
    notes = None
    if rng.random() < 0.6:
        texts = _demo_people()["notes"]
        notes = " ".join(rng.choice(texts[need]) for need in needs[:2])
    return {
        "urgency": URGENCY[bool(SERIOUS.intersection(needs))].draw(rng),
        "travel_direction": DIRECTION[person.nationality == country].draw(rng),
        "referral_sharing": rng.random() < 0.85,
        "follow_up_contact": rng.random() < 0.6,
        "method": "written" if rng.random() < 0.15 else "verbal",
        "given_by": "guardian" if guardian else "self",
        "notes": notes,
    }
