"""`flask facilities import` with Open Referral HSDS exports (JSON, and tabular packages)."""

import copy
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from referral.models import AuditEvent, Facility
from referral.schemas.facility import CODE
from referral.services import hsds

DATA = Path(__file__).resolve().parent.parent / "data" / "hsds"

CLINIC = {
    "code": "HSDS-SV-SRL-CLINICA-01", "name": "Clínica Comunitaria Santa Rosa de Lima",
    "kind": "clinic", "country": "SV", "admin_area": "La Unión",
    "address": "Calle Principal 12, Santa Rosa de Lima", "latitude": 13.624,
    "longitude": -87.893, "languages": ["es", "en"],
    # gbv_care from the taxonomy code, so not sexual_reproductive_health from the name
    "services": ["emergency_care", "gbv_care", "primary_care"],
}
SHELTER = {
    "code": "HSDS-MX-TAP-ALBERGUE-ESPERANZA", "name": "Albergue La Esperanza",
    "kind": "shelter", "country": "MX", "admin_area": "Chiapas",
    "address": "Av. Central Norte 8, Tapachula", "latitude": 14.906, "longitude": -92.263,
    # K'iche' is not a language code; the defunct mental health service does not count
    "languages": ["es", "mam"], "services": ["nutrition", "shelter"],
}
HOSPITAL = {
    "code": "HSDS-SV-SRL-HOSP-MATERNIDAD",
    # the location has no name: its organization's
    "name": "Hospital Comunitario Los Almendros (ficticio)", "kind": "hospital",
    "country": "SV", "admin_area": "Oriente", "address": "Barrio El Centro, Santa Rosa de Lima",
    "latitude": None, "longitude": None, "languages": [],
    "services": ["maternal_care", "sexual_reproductive_health"],
}
UNTOUCHED = {"confidential": False, "capacity_total": None, "capacity_available": None,
             "active": True, "timezone": None}
EXPECTED = {item["code"]: item | UNTOUCHED for item in (CLINIC, SHELTER, HOSPITAL)}
SKIPPED = "skipped 2 HSDS locations: 1 with no physical address, 1 with no country"


def run(app, *args):
    return app.test_cli_runner().invoke(args=["facilities", "import", *map(str, args)])


def directory(session) -> dict:
    session.expire_all()
    return {f.code: {name: getattr(f, name) for name in (*CLINIC, *UNTOUCHED)}
            for f in session.scalars(sa.select(Facility))}


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def services_json() -> list:
    return json.loads((DATA / "services.json").read_text(encoding="utf-8"))


def write_json(tmp_path, data, name="hsds.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def zip_folder(folder: Path, target: Path) -> Path:
    """The package as a zip, inside a folder and with macOS litter, as exports often come."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, f"hsds-export/{file.name}")
        archive.writestr("__MACOSX/hsds-export/._location.csv", b"\x00\x05\x16\x07junk")
    return target


def test_hsds_json_services_become_facilities_and_the_virtual_location_is_skipped(
        app, session):
    result = run(app, DATA / "services.json")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == ["created 3, updated 0, unchanged 0", SKIPPED]
    assert directory(session) == EXPECTED
    (event, *_) = session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "facility_created"))
    assert event.detail["source"] == "import"


def as_organizations(services: list) -> list:
    """The same export as HSDS organizations nesting their services and locations."""
    organizations = {}
    for service in copy.deepcopy(services):
        org = service.pop("organization")
        org = organizations.setdefault(org["id"], org | {"services": [], "locations": []})
        for link in service["service_at_locations"]:
            location = link.pop("location")
            link["location_id"] = location["id"]
            if len(location) > 1:
                org["locations"].append(location)
        org["services"].append(service)
    return list(organizations.values())


@pytest.mark.parametrize("shape", ["api_page", "organizations"])
def test_other_hsds_json_shapes_give_the_same_facilities(app, session, tmp_path, shape):
    services = services_json()
    data = ({"total_items": len(services), "total_pages": 1, "page_number": 1,
             "size": len(services), "first_page": True, "last_page": True, "empty": False,
             "contents": services} if shape == "api_page" else as_organizations(services))
    result = run(app, write_json(tmp_path, data))
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == ["created 3, updated 0, unchanged 0", SKIPPED]
    assert directory(session) == EXPECTED


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_a_tabular_package_gives_the_same_facilities(app, session, tmp_path, form):
    package = DATA / "package"
    path = package if form == "folder" else zip_folder(package, tmp_path / "export.zip")
    result = run(app, path)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == ["created 3, updated 0, unchanged 0", SKIPPED]
    assert directory(session) == EXPECTED
    # the same locations in JSON are the same facilities, unchanged
    again = run(app, DATA / "services.json")
    assert again.output.splitlines()[0] == "created 0, updated 0, unchanged 3"


def test_an_older_package_with_plural_names_is_imported(app, session):
    result = run(app, DATA / "v1_package")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        "created 1, updated 0, unchanged 0",
        "skipped 1 HSDS location: 1 with no physical address"]
    assert directory(session) == {"HSDS-GT-TECUN-CENTRO-01": {
        "code": "HSDS-GT-TECUN-CENTRO-01", "name": "Centro de Atención al Migrante Tecún Umán",
        "kind": "clinic", "country": "GT", "admin_area": "San Marcos",
        "address": "6a Avenida 2-15, Tecún Umán", "latitude": 14.679, "longitude": -92.138,
        # "English" is a name, not a code
        "languages": ["es", "mam"],
        # VIH from the service name, tuberculosis from its taxonomy term's name
        "services": ["hiv_sti", "sexual_reproductive_health", "tuberculosis"],
    } | UNTOUCHED}


def test_a_reimport_updates_never_duplicates_and_keeps_confidential_and_capacity(
        app, session, tmp_path):
    assert run(app, DATA / "services.json").exit_code == 0
    session.expire_all()
    clinic = session.scalar(sa.select(Facility).where(Facility.code == CLINIC["code"]))
    shelter = session.scalar(sa.select(Facility).where(Facility.code == SHELTER["code"]))
    clinic.confidential = True
    shelter.capacity_total, shelter.capacity_available = 40, 7
    session.commit()

    same = run(app, DATA / "services.json")
    assert same.output.strip().splitlines() == ["created 0, updated 0, unchanged 3", SKIPPED]

    data = services_json()
    data[0]["service_at_locations"][0]["location"]["name"] = "Clínica Comunitaria SRL"
    changed = run(app, write_json(tmp_path, data))
    assert changed.exit_code == 0, changed.output
    assert changed.output.splitlines()[0] == "created 0, updated 1, unchanged 2"

    now = directory(session)
    assert count(session, Facility) == 3
    assert now[CLINIC["code"]]["name"] == "Clínica Comunitaria SRL"
    assert now[CLINIC["code"]]["confidential"] is True
    assert (now[SHELTER["code"]]["capacity_total"],
            now[SHELTER["code"]]["capacity_available"]) == (40, 7)
    (event,) = session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "facility_updated"))
    assert event.detail["fields"] == ["name"]


def test_a_country_that_is_not_iso_names_the_location_and_nothing_is_written(
        app, session, tmp_path):
    data = services_json()
    data[3]["service_at_locations"][0]["location"]["addresses"][0]["country"] = "México"
    result = run(app, write_json(tmp_path, data))
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert "HSDS location mx-tap-albergue-esperanza" in line and "field country" in line
    assert "index" not in line
    assert count(session, Facility) == 0


def test_a_package_over_the_size_cap_is_refused(app, session, tmp_path):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in (DATA / "package").iterdir():
            if file.name != "language.csv":
                archive.write(file, file.name)
        archive.writestr("language.csv", b"id,code\n" + b"x" * (hsds.MAX_PACKAGE_BYTES + 1))
    assert path.stat().st_size < 1024 * 1024  # small on disk, too big once read
    result = run(app, path)
    assert result.exit_code != 0
    assert "more than 50 MB" in result.output
    assert count(session, Facility) == 0


def test_a_corrupt_zip_is_refused(app, session, tmp_path):
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    good = zip_folder(DATA / "package", tmp_path / "good.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(damaged, "w", zipfile.ZIP_STORED) as archive:
        for file in (DATA / "package").iterdir():
            archive.write(file, file.name)
    raw = bytearray(damaged.read_bytes())
    at = raw.index(b"Calle Principal")
    raw[at] = ord("K")  # the stored data no longer matches its CRC
    damaged.write_bytes(bytes(raw))
    for path in (garbage, truncated, damaged):
        result = run(app, path)
        assert result.exit_code != 0, path
        assert "is not a readable zip archive" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    assert count(session, Facility) == 0


def test_a_folder_without_hsds_tables_is_refused(app, session, tmp_path):
    empty = tmp_path / "notes"
    empty.mkdir()
    (empty / "notas.txt").write_text("nada", encoding="utf-8")
    (empty / "contactos.csv").write_text("id,nombre\n1,Ana\n", encoding="utf-8")
    result = run(app, empty)
    assert result.exit_code != 0
    assert "holds no HSDS tables" in result.output

    partial = tmp_path / "partial"
    shutil.copytree(DATA / "package", partial)
    (partial / "service_at_location.csv").unlink()
    result = run(app, partial)
    assert result.exit_code != 0
    assert "lacks the HSDS table service_at_location.csv" in result.output
    assert count(session, Facility) == 0


def test_kind_sets_every_imported_facility_kind(app, session):
    result = run(app, DATA / "package", "--kind", "ngo_office")
    assert result.exit_code == 0, result.output
    assert {f["kind"] for f in directory(session).values()} == {"ngo_office"}


def test_kind_is_refused_for_api_shaped_json(app, session, tmp_path):
    api = [{"code": "BP-SV-EL-AMATILLO", "name": "El Amatillo", "kind": "border_post",
            "country": "SV"}]
    result = run(app, write_json(tmp_path, api), "--kind", "clinic")
    assert result.exit_code != 0
    assert "--kind applies to HSDS input only" in result.output
    assert count(session, Facility) == 0
    assert run(app, DATA / "package", "--kind", "castle").exit_code != 0
    assert count(session, Facility) == 0


def test_long_location_ids_give_valid_stable_codes(app, session, tmp_path):
    base = "https://directorio.example.org/hsds/v3/locations/2f6c0a6e-8f3b-4c9e-9d1a-"
    ids = [base + "5b7e2d4c1a90", base + "5b7e2d4c1a91"]
    data = services_json()[3:4]
    first = data[0]["service_at_locations"][0]
    second = copy.deepcopy(first)
    first["location"]["id"], second["location"]["id"] = ids
    data[0]["service_at_locations"].append(second)
    path = write_json(tmp_path, data)
    assert run(app, path).output.splitlines()[0] == "created 2, updated 0, unchanged 0"
    codes = sorted(directory(session))
    assert len(set(codes)) == 2
    for code, raw in zip(codes, ids, strict=True):
        assert len(code) == 64 and CODE.match(code), code
        assert code.startswith("HSDS-HTTPS-DIRECTORIO-EXAMPLE-ORG-HSDS-V3-LOCATIONS-")
        assert code.endswith("-" + hashlib.sha256(raw.encode()).hexdigest()[:8].upper())
    assert run(app, path).output.splitlines()[0] == "created 0, updated 0, unchanged 2"
    assert sorted(directory(session)) == codes


def test_codes_from_odd_ids_are_valid():
    assert hsds.facility_code("sv/srl 01") == "HSDS-SV-SRL-01"
    assert hsds.facility_code("  --loc:7/ñ--") == "HSDS-LOC-7"
    only_symbols = hsds.facility_code("ñ--¿?")
    assert CODE.match(only_symbols) and only_symbols.startswith("HSDS-")
    assert hsds.facility_code("ñ--¿?") == only_symbols


def test_services_are_found_by_keyword_in_english_and_spanish():
    assert hsds.services_of("ATENCIÓN PRIMARIA y Salud Mental", []) == {
        "primary_care", "mental_health"}
    assert hsds.services_of("Protección de la Niñez", []) == {"child_protection"}
    assert hsds.services_of("Trata de personas", []) == {"trafficking_protection"}
    assert hsds.services_of("Gender-based violence response", []) == {"gbv_care"}
    assert hsds.services_of("Asesoría legal para refugiados", []) == set()  # not refugio
    assert hsds.services_of("Legal aid", [(None, "Nutrición")]) == {"nutrition"}
