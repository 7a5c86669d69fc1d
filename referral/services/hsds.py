"""Open Referral HSDS exports as API facility objects: readers and a pure conversion.

No database here: `read_package` and `from_json` turn an export into a `Dataset`, and
`to_facilities` turns that into the dicts `directory.import_facilities` takes (FacilityIn).

Input forms
-----------
- HSDS 3 JSON: a list of `service` objects (each may nest `organization` and
  `service_at_locations[].location`), an HSDS API page `{"contents": [...]}` of them, or a
  list of `organization` objects nesting `services` and `locations` (a service links to a
  location by `service_at_locations[].location` or `.location_id`). `looks_like_hsds` tells
  such JSON from an array of API facility objects (those have a `code`).
- A tabular data package: a directory or a .zip of CSV files named after the objects, HSDS 3
  (`organization.csv`, `service.csv`, `location.csv`, `service_at_location.csv`,
  `address.csv`, `language.csv`, `attribute.csv`, `taxonomy_term.csv`, singular or plural)
  or HSDS 1.x/2.x (`organizations.csv`, `services.csv`, `locations.csv`,
  `services_at_location.csv`, `physical_addresses.csv`, `languages.csv`,
  `service_attributes.csv` + `taxonomy_terms.csv`, `services_taxonomy.csv` + `taxonomy.csv`).
  `datapackage.json`, when present, may name other paths for these resources. Zip members
  are read in memory, by file name only (folders ignored); at most MAX_PACKAGE_BYTES are read
  from a package in all.

Mapping
-------
- One facility per HSDS location with a service at it (services whose `status` is
  `inactive` or `defunct` do not count) and a physical address: `address_type` "physical",
  a row of the 1.x/2.x physical address table, or an address without a type at a location
  whose `location_type` is "physical". A location of type "virtual" or "postal" has none.
  Skipped, and counted by reason: no service at it, no physical address, no country.
- `code`: "HSDS-" + the location id upper-cased, each run of characters outside A-Z0-9 made
  "-", "-" trimmed at both ends; longer than 64, the first 55 characters (trailing "-"
  trimmed) + "-" + the first 8 hex digits of sha256 of the id, upper-cased; an id with no
  letter or digit gives "HSDS-" + those 8 digits. Stable, so a re-import updates.
- `name`: the location's name, else its organization's name (stripped, at most 200).
- `country`: the physical address's `country`, upper-cased (the first physical address that
  has one); `admin_area`: `state_province`, else `region` (at most 120); `address`:
  `address_1` and `city` joined by ", " (at most 300); `latitude`/`longitude` from the
  location, as a pair only. These four are left out when the export has no value for them.
- `languages`: `code` (HSDS 3) or `language` (older) of the location's and its services'
  languages, lower-cased, de-duplicated in order, only 2 or 3 letters; at most 20.
- `services`: for each service at the location, the taxonomy terms whose code or name is one
  of SERVICES (compared as lower-case words joined by "_"); if none is, KEYWORDS found as
  whole words (case- and accent-insensitive) in the service name and its term names. Sorted.
- `kind`: `--kind` when given; else `shelter` if the services include shelter, `hospital` if
  the location's or organization's name contains "hospital", else `clinic`.
- Never sent: confidential, capacity_total, capacity_available, accepts, active, timezone
  (a re-import keeps what the directory holds), nor descriptions, phones, e-mails, URLs.
"""

import csv
import hashlib
import io
import json
import os
import posixpath
import re
import unicodedata
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from referral.models.codes import SERVICES

MAX_PACKAGE_BYTES = 50 * 1024 * 1024
MAX_CODE = 64
MAX_LANGUAGES = 20
INACTIVE = ("inactive", "defunct")

NO_SERVICES = "no service at it"
NO_ADDRESS = "no physical address"
NO_COUNTRY = "no country"
SKIP_REASONS = (NO_ADDRESS, NO_COUNTRY, NO_SERVICES)

# Words that name one of our services, English and Spanish; matched as whole words in the
# normalized text (lower case, no accents, punctuation as spaces).
KEYWORDS = {
    "emergency_care": ("emergency", "emergencia", "emergencias", "urgencia", "urgencias"),
    "mental_health": ("mental health", "salud mental", "psicosocial", "psychosocial"),
    "shelter": ("shelter", "albergue", "albergues", "refugio", "casa de acogida"),
    "maternal_care": ("prenatal", "maternal", "materna", "parto"),
    "hiv_sti": ("hiv", "vih", "sti", "its"),
    "tuberculosis": ("tuberculosis",),
    "nutrition": ("nutrition", "nutricion", "alimentacion"),
    "gbv_care": ("gender-based violence", "gbv", "violencia de genero",
                 "violencia basada en genero"),
    "trafficking_protection": ("trafficking", "trata"),
    "child_protection": ("child protection", "proteccion de la ninez", "ninez", "infancia"),
    "sexual_reproductive_health": ("sexual", "reproductive", "reproductiva", "salud sexual",
                                   "planificacion familiar"),
    "primary_care": ("primary care", "atencion primaria", "consulta general",
                     "medicina general"),
}

# Table -> the file names (without .csv) it goes by in HSDS 3 and in 1.x/2.x.
TABLES = {
    "organization": ("organization", "organizations"),
    "service": ("service", "services"),
    "location": ("location", "locations"),
    "service_at_location": ("service_at_location", "service_at_locations",
                            "services_at_location", "services_at_locations"),
    "address": ("address", "addresses"),
    "physical_address": ("physical_address", "physical_addresses"),
    "language": ("language", "languages"),
    "attribute": ("attribute", "attributes"),
    "taxonomy_term": ("taxonomy_term", "taxonomy_terms"),
    "service_attribute": ("service_attribute", "service_attributes"),
    "service_taxonomy": ("service_taxonomy", "services_taxonomy"),
    "taxonomy": ("taxonomy",),  # 1.x terms; read only with service_taxonomy
}
REQUIRED = ("location", "service", "service_at_location")
HSDS_KEYS = frozenset({"service_at_locations", "organization", "locations", "services",
                       "contents"})


class HSDSError(ValueError):
    """An export that cannot be read or converted; the message is one line for the user."""


@dataclass
class Location:
    id: str
    name: str | None = None
    organization_id: str | None = None
    location_type: str | None = None
    latitude: object = None
    longitude: object = None
    addresses: list = field(default_factory=list)
    languages: list = field(default_factory=list)


@dataclass
class Service:
    id: str
    name: str | None = None
    organization_id: str | None = None
    status: str | None = None
    languages: list = field(default_factory=list)
    terms: list = field(default_factory=list)  # (code, name) of its taxonomy terms


@dataclass
class Dataset:
    organizations: dict = field(default_factory=dict)  # id -> name
    services: dict = field(default_factory=dict)  # id -> Service
    locations: dict = field(default_factory=dict)  # id -> Location, in order of appearance
    links: list = field(default_factory=list)  # (service id, location id)


@dataclass
class Conversion:
    facilities: list  # API facility objects
    location_ids: list  # the HSDS location of each facility, same order
    skipped: Counter  # reason -> locations


# -- small helpers ------------------------------------------------------------------------

def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text or None


def _plain(text: str | None) -> str:
    """Lower case, accents off, every run of other characters one space."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", bare).split())


_KEYWORDS = {service: tuple(_plain(word) for word in words)
             for service, words in KEYWORDS.items()}


def _cut(text: str | None, length: int) -> str | None:
    return (text[:length].strip() or None) if text else None


def facility_code(location_id: str) -> str:
    """The stable facility code of an HSDS location id (see the module docstring)."""
    digest = hashlib.sha256(location_id.encode("utf-8")).hexdigest()[:8].upper()
    body = re.sub(r"[^A-Z0-9]+", "-", location_id.upper()).strip("-")
    if not body:
        return f"HSDS-{digest}"
    code = f"HSDS-{body}"
    if len(code) > MAX_CODE:
        code = f"{code[:55].rstrip('-')}-{digest}"
    return code


def services_of(name: str | None, terms) -> set:
    """Our service codes for one HSDS service: exact taxonomy terms first, else keywords."""
    exact = set()
    for code, term in terms:
        for value in (code, term):
            candidate = _plain(value).replace(" ", "_")
            if candidate in SERVICES:
                exact.add(candidate)
    if exact:
        return exact
    found = set()
    for text in (name, *(term for _, term in terms)):
        words = f" {_plain(text)} "
        found.update(service for service, keywords in _KEYWORDS.items()
                     if any(f" {keyword} " in words for keyword in keywords))
    return found


def _language_codes(values) -> list:
    codes = (_plain(_text(value)) for value in values)
    return [code for code in codes if re.fullmatch(r"[a-z]{2,3}", code)]


# -- JSON -----------------------------------------------------------------------------------

def looks_like_hsds(data) -> bool:
    """HSDS JSON rather than API facility objects: HSDS keys and no `code`."""
    if isinstance(data, dict):
        return "code" not in data and bool(HSDS_KEYS & data.keys())
    if not isinstance(data, list) or not data:
        return False
    if not all(isinstance(item, dict) and "code" not in item for item in data):
        return False
    return any(HSDS_KEYS & item.keys() for item in data)


def _is_organization(item: dict) -> bool:
    return "service_at_locations" not in item and ("services" in item or "locations" in item)


def _json_languages(values) -> list:
    if not isinstance(values, list):
        return []
    return [v.get("code") or v.get("language") for v in values if isinstance(v, dict)]


def _json_terms(attributes) -> list:
    terms = []
    for attribute in attributes if isinstance(attributes, list) else ():
        term = attribute.get("taxonomy_term") if isinstance(attribute, dict) else None
        if isinstance(term, dict):
            terms.append((_text(term.get("code")), _text(term.get("name") or term.get("term"))))
    return terms


class _JsonReader:
    def __init__(self):
        self.data = Dataset()

    def organization(self, org, *, walk=True) -> str | None:
        if not isinstance(org, dict):
            return None
        org_id = _text(org.get("id"))
        if org_id and _text(org.get("name")):
            self.data.organizations.setdefault(org_id, _text(org.get("name")))
        if walk:
            for location in org.get("locations") or ():
                self.location(location, org_id, where=f"organization {org_id}")
            for service in org.get("services") or ():
                self.service(service, org_id)
        return org_id

    def location(self, raw, org_id, *, where, location_id=None) -> str | None:
        if not isinstance(raw, dict):
            return location_id
        location_id = _text(raw.get("id")) or location_id
        if location_id is None:
            raise HSDSError(f"an HSDS location in {where} has no id")
        addresses = [a for a in raw.get("addresses") or raw.get("addresss") or ()
                     if isinstance(a, dict)]
        found = Location(
            id=location_id, name=_text(raw.get("name")),
            organization_id=_text(raw.get("organization_id")) or org_id,
            location_type=_text(raw.get("location_type")),
            latitude=raw.get("latitude"), longitude=raw.get("longitude"),
            addresses=addresses, languages=_json_languages(raw.get("languages")))
        known = self.data.locations.get(location_id)
        if known is None:
            self.data.locations[location_id] = found
        else:  # the same location seen again (under another service): fill what is missing
            for name in ("name", "organization_id", "location_type", "latitude", "longitude",
                         "addresses", "languages"):
                if getattr(known, name) in (None, "", []):
                    setattr(known, name, getattr(found, name))
        return location_id

    def service(self, raw, org_id=None) -> None:
        if not isinstance(raw, dict):
            return
        org_id = self.organization(raw.get("organization"), walk=False) or org_id
        service_id = _text(raw.get("id")) or f"#{len(self.data.services)}"
        self.data.services[service_id] = Service(
            id=service_id, name=_text(raw.get("name")),
            organization_id=_text(raw.get("organization_id")) or org_id,
            status=_text(raw.get("status")), languages=_json_languages(raw.get("languages")),
            terms=_json_terms(raw.get("attributes")))
        for link in raw.get("service_at_locations") or ():
            if not isinstance(link, dict):
                continue
            location_id = self.location(link.get("location"), org_id,
                                        where=f"service {service_id}",
                                        location_id=_text(link.get("location_id")))
            if location_id:
                self.data.links.append((service_id, location_id))


def from_json(data) -> Dataset:
    """An HSDS JSON document (see the module docstring) as a Dataset."""
    if isinstance(data, dict):
        data = data["contents"] if isinstance(data.get("contents"), list) else [data]
    reader = _JsonReader()
    for item in data:
        if isinstance(item, dict) and _is_organization(item):
            reader.organization(item)
        else:
            reader.service(item)
    return reader.data


# -- tabular packages -------------------------------------------------------------------------

class _Budget:
    def __init__(self, limit: int):
        self.left = limit

    def take(self, size: int, where: str) -> None:
        self.left -= size
        if self.left < 0:
            raise HSDSError(f"{where} holds more than {MAX_PACKAGE_BYTES // (1024 * 1024)} MB "
                            f"of HSDS tables; split the export")


class _Folder:
    def __init__(self, path: str):
        self.path = path
        self.files = {entry.name.lower(): entry.path for entry in os.scandir(path)
                      if entry.is_file()}

    def read(self, name: str, budget: _Budget) -> bytes:
        with open(self.files[name], "rb") as handle:
            budget.take(os.fstat(handle.fileno()).st_size, self.path)
            return handle.read()


class _Zip:
    def __init__(self, path: str, archive: zipfile.ZipFile):
        self.path = path
        self.archive = archive
        self.files = {}
        for info in archive.infolist():
            name = info.filename.replace("\\", "/")
            base = posixpath.basename(name).lower()
            if (info.is_dir() or base.startswith(".") or "__macosx/" in name.lower()
                    or not (base.endswith(".csv") or base == "datapackage.json")):
                continue
            if base in self.files:
                raise HSDSError(f"{path} holds two files named {base}")
            self.files[base] = info

    def read(self, name: str, budget: _Budget) -> bytes:
        info = self.files[name]
        # Counted before anything is inflated; zipfile never gives more than file_size and
        # checks the CRC, so a member cannot hold more than its entry says.
        budget.take(info.file_size, self.path)
        with self.archive.open(info) as member:
            return member.read()


def is_zip(path: str) -> bool:
    return path.lower().endswith(".zip") or zipfile.is_zipfile(path)


def _rows(source, name: str, budget: _Budget) -> list[dict]:
    try:
        text = source.read(name, budget).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HSDSError(f"{name} in {source.path} is not UTF-8 text") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        return [{(key or "").strip().lower(): _text(value) for key, value in row.items()
                 if isinstance(value, str)} for row in reader]
    except csv.Error as exc:
        raise HSDSError(f"{name} in {source.path} is not valid CSV: {exc}") from None


def _file_names(source, budget: _Budget) -> dict:
    """Table -> file name in the package, from datapackage.json or the file names."""
    names = {}
    for table, aliases in TABLES.items():
        for alias in aliases:
            if f"{alias}.csv" in source.files:
                names[table] = f"{alias}.csv"
                break
    if "datapackage.json" in source.files:
        try:
            package = json.loads(source.read("datapackage.json", budget).decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HSDSError(f"datapackage.json in {source.path} is not JSON: {exc}") from None
        resources = package.get("resources") if isinstance(package, dict) else None
        for resource in resources if isinstance(resources, list) else ():
            if not isinstance(resource, dict) or not isinstance(resource.get("path"), str):
                continue
            base = posixpath.basename(resource["path"].replace("\\", "/")).lower()
            for table, aliases in TABLES.items():
                if resource.get("name") in aliases and base in source.files:
                    names.setdefault(table, base)
    return names


def _package(source) -> Dataset:
    budget = _Budget(MAX_PACKAGE_BYTES)
    names = _file_names(source, budget)
    if not names:
        raise HSDSError(f"{source.path} holds no HSDS tables (location.csv, service.csv, "
                        f"service_at_location.csv, address.csv ...)")
    missing = [TABLES[table][0] + ".csv" for table in REQUIRED if table not in names]
    if "address" not in names and "physical_address" not in names:
        missing.append("address.csv (or physical_addresses.csv)")
    if missing:
        raise HSDSError(f"{source.path} lacks the HSDS table{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)}")
    if "taxonomy" in names and "service_taxonomy" not in names:
        del names["taxonomy"]  # in HSDS 3 taxonomy.csv lists vocabularies, not terms
    tables = {table: _rows(source, name, budget) for table, name in names.items()}
    return _from_tables(tables)


def _from_tables(tables: dict) -> Dataset:
    data = Dataset()
    for row in tables.get("organization", ()):
        if row.get("id") and row.get("name"):
            data.organizations[row["id"]] = row["name"]
    for row in tables["service"]:
        if row.get("id"):
            data.services[row["id"]] = Service(
                id=row["id"], name=row.get("name"), organization_id=row.get("organization_id"),
                status=row.get("status"))
    for row in tables["location"]:
        if row.get("id"):
            data.locations.setdefault(row["id"], Location(
                id=row["id"], name=row.get("name"), organization_id=row.get("organization_id"),
                location_type=row.get("location_type"), latitude=row.get("latitude"),
                longitude=row.get("longitude")))
    for row in tables["service_at_location"]:
        if row.get("service_id") and row.get("location_id"):
            data.links.append((row["service_id"], row["location_id"]))
    for table in ("address", "physical_address"):
        for row in tables.get(table, ()):
            location = data.locations.get(row.get("location_id"))
            if location is not None:
                if table == "physical_address":
                    row = dict(row, address_type="physical")
                location.addresses.append(row)
    for row in tables.get("language", ()):
        code = row.get("code") or row.get("language")
        for owner in (data.locations.get(row.get("location_id")),
                      data.services.get(row.get("service_id"))):
            if owner is not None:
                owner.languages.append(code)
    _link_terms(data, tables)
    return data


def _link_terms(data: Dataset, tables: dict) -> None:
    terms = {row["id"]: (row.get("code"), row.get("name") or row.get("term"))
             for table in ("taxonomy_term", "taxonomy") for row in tables.get(table, ())
             if row.get("id")}
    links = [(row.get("link_id"), row.get("taxonomy_term_id"), row.get("link_entity"))
             for row in tables.get("attribute", ())]
    links += [(row.get("service_id"), row.get("taxonomy_term_id"), "service")
              for row in tables.get("service_attribute", ())]
    links += [(row.get("service_id"), row.get("taxonomy_id"), "service")
              for row in tables.get("service_taxonomy", ())]
    for service_id, term_id, entity in links:
        service = data.services.get(service_id)
        if service is not None and term_id in terms and (entity or "service") == "service":
            service.terms.append(terms[term_id])


def read_package(path: str) -> Dataset:
    """A tabular HSDS data package, a directory or a .zip, as a Dataset.

    Raises HSDSError for what is not a readable package, OSError when the path cannot be read.
    """
    if os.path.isdir(path):
        return _package(_Folder(path))
    try:
        with zipfile.ZipFile(path) as archive:
            return _package(_Zip(path, archive))
    except HSDSError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            ValueError) as exc:  # corrupt, truncated, encrypted or unsupported compression
        raise HSDSError(f"{path} is not a readable zip archive: {exc}") from None


# -- conversion -------------------------------------------------------------------------------

def _physical(address: dict, location: Location) -> bool:
    kind = (_text(address.get("address_type")) or "").lower()
    return kind == "physical" or (not kind and (location.location_type or "") == "physical")


def _address_of(location: Location) -> tuple[dict | None, str | None]:
    """The physical address that makes a facility, or why there is none."""
    if (location.location_type or "").lower() in ("virtual", "postal"):
        return None, NO_ADDRESS
    physical = [a for a in location.addresses if _physical(a, location)]
    if not physical:
        return None, NO_ADDRESS
    for address in physical:
        if _text(address.get("country")):
            return address, None
    return None, NO_COUNTRY


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = _text(value)
    try:
        return None if text is None else float(text)
    except ValueError:
        return text  # FacilityIn says what is wrong with it, naming the location


def _facility(location: Location, address: dict, services: list, data: Dataset,
              kind: str | None) -> dict:
    org_id = location.organization_id or next(
        (s.organization_id for s in services if s.organization_id), None)
    org_name = data.organizations.get(org_id)
    codes = set()
    languages = list(location.languages)
    for service in services:
        codes |= services_of(service.name, service.terms)
        languages += service.languages
    item = {
        "code": facility_code(location.id),
        "name": _cut(location.name or org_name, 200),
        "country": _text(address.get("country")).upper(),
        "services": sorted(codes),
        "languages": list(dict.fromkeys(_language_codes(languages)))[:MAX_LANGUAGES],
    }
    if item["name"] is None:
        del item["name"]  # FacilityIn reports it as missing
    if kind is None:
        names = _plain(f"{location.name or ''} {org_name or ''}")
        kind = ("shelter" if "shelter" in codes else
                "hospital" if "hospital" in names else "clinic")
    item["kind"] = kind
    admin_area = _cut(_text(address.get("state_province")) or _text(address.get("region")), 120)
    street = ", ".join(part for part in (_text(address.get("address_1")),
                                         _text(address.get("city"))) if part)
    latitude, longitude = _number(location.latitude), _number(location.longitude)
    optional = {"admin_area": admin_area, "address": _cut(street, 300)}
    if latitude is not None and longitude is not None:
        optional |= {"latitude": latitude, "longitude": longitude}
    item |= {name: value for name, value in optional.items() if value is not None}
    return item


def to_facilities(data: Dataset, kind: str | None = None) -> Conversion:
    """API facility objects for the locations of `data` (see the module docstring)."""
    at_location = defaultdict(dict)  # location id -> service id -> Service
    for service_id, location_id in data.links:
        service = data.services.get(service_id) or Service(id=service_id)
        if (service.status or "").lower() not in INACTIVE:
            at_location[location_id][service_id] = service
    result = Conversion([], [], Counter())
    owners = {}
    for location in data.locations.values():
        services = at_location.get(location.id)
        address, reason = _address_of(location) if services else (None, NO_SERVICES)
        if reason:
            result.skipped[reason] += 1
            continue
        item = _facility(location, address, list(services.values()), data, kind)
        if item["code"] in owners:
            raise HSDSError(f"HSDS locations {owners[item['code']]} and {location.id} give the "
                            f"same facility code {item['code']}")
        owners[item["code"]] = location.id
        result.facilities.append(item)
        result.location_ids.append(location.id)
    return result


def skipped_summary(skipped: Counter) -> str | None:
    """One line of counts, or None when nothing was skipped."""
    total = sum(skipped.values())
    if not total:
        return None
    parts = [f"{skipped[reason]} with {reason}" for reason in SKIP_REASONS if skipped[reason]]
    return f"skipped {total} HSDS location{'s' if total > 1 else ''}: {', '.join(parts)}"
