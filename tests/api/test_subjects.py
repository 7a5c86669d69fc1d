import pytest

from referral.extensions import db
from referral.models import AuditEvent, Case, DataKey, Subject
from referral.services import pseudonyms
from tests.api.test_cases import intake_body
from tests.factories import CaseFactory, UserFactory


@pytest.fixture
def promoter():
    return UserFactory(role="promoter")


def test_a_subject_is_found_by_a_forgivingly_typed_pseudonym(client, promoter, headers_for):
    case = CaseFactory(facility=promoter.facility)
    code = pseudonyms.display(case.subject.pseudonym).lower().replace("0", "o")
    response = client.get(f"/api/v1/subjects/{code}", headers=headers_for(promoter))
    assert response.status_code == 200
    body = response.get_json()
    assert body["pseudonym"] == pseudonyms.display(case.subject.pseudonym)
    assert [c["id"] for c in body["cases"]] == [str(case.id)]


def test_a_subject_only_seen_elsewhere_is_not_found(client, promoter, headers_for):
    case = CaseFactory()
    code = pseudonyms.display(case.subject.pseudonym)
    assert client.get(f"/api/v1/subjects/{code}", headers=headers_for(promoter)).status_code \
        == 404
    assert client.get("/api/v1/subjects/not-a-code", headers=headers_for(promoter)).status_code \
        == 404


def test_subject_shows_only_the_cases_the_caller_may_see(client, promoter, headers_for):
    mine = CaseFactory(facility=promoter.facility)
    CaseFactory(subject=mine.subject)  # the same person, seen at another post
    body = client.get(f"/api/v1/subjects/{mine.subject.pseudonym}",
                      headers=headers_for(promoter)).get_json()
    assert [c["id"] for c in body["cases"]] == [str(mine.id)]


def test_match_finds_the_same_person_across_facilities(client, headers_for):
    first, second = UserFactory(), UserFactory()
    created = client.post("/api/v1/cases", json=intake_body(), headers=headers_for(first))
    code = created.get_json()["subject"]["pseudonym"]
    query = {"given_name": "NUÑEZ", "family_name": "maría  josé", "birth_date": "1994-07-01",
             "sex": "female", "nationality": "hn"}
    response = client.post("/api/v1/subjects/match", json=query, headers=headers_for(second))
    assert response.status_code == 200
    assert response.get_json() == {"matches": [code]}
    other = dict(query, nationality="GT")
    assert client.post("/api/v1/subjects/match", json=other,
                       headers=headers_for(second)).get_json() == {"matches": []}


def test_the_blind_index_holds_no_name(client, promoter, headers_for):
    client.post("/api/v1/cases", json=intake_body(), headers=headers_for(promoter))
    subject = db.session.query(Subject).one()
    assert len(subject.match_key) == 64
    assert "maria" not in subject.match_key and "nunez" not in subject.match_key


def test_erasure_destroys_the_key_and_keeps_the_counts(client, promoter, headers_for):
    created = client.post("/api/v1/cases", json=intake_body(), headers=headers_for(promoter))
    case = created.get_json()
    code = case["subject"]["pseudonym"]
    admin = UserFactory(admin=True)
    response = client.delete(f"/api/v1/subjects/{code}", headers=headers_for(admin))
    assert response.status_code == 204
    after = client.get(f"/api/v1/cases/{case['id']}", headers=headers_for(promoter)).get_json()
    subject = after["subject"]
    assert subject["pseudonym"] == code
    for field in ("given_name", "family_name", "birth_date", "birth_year", "age_estimate",
                  "phone"):
        assert subject[field] is None, field
    assert after["notes"] is None
    assert (after["needs"], after["urgency"]) == (case["needs"], case["urgency"])
    stored = db.session.query(Case).one()
    assert (stored.sex, stored.nationality, stored.age_band) == ("female", "HN", case["age_band"])
    assert db.session.query(DataKey).count() == 0
    raw = db.session.query(Subject).one()
    assert raw._given_name is None and raw._phone is None and raw.match_key is None
    assert db.session.query(AuditEvent).filter_by(action="subject_erased").count() == 1


def test_an_erased_person_matches_no_one_and_cannot_get_new_cases(client, promoter, headers_for):
    created = client.post("/api/v1/cases", json=intake_body(), headers=headers_for(promoter))
    code = created.get_json()["subject"]["pseudonym"]
    client.delete(f"/api/v1/subjects/{code}", headers=headers_for(UserFactory(admin=True)))
    again = client.post("/api/v1/cases", json=intake_body(), headers=headers_for(promoter))
    assert again.get_json()["possible_duplicates"] == []
    reuse = client.post("/api/v1/cases", json=intake_body(subject={"pseudonym": code}),
                        headers=headers_for(promoter))
    assert reuse.status_code == 422


def test_only_admins_may_erase(client, promoter, headers_for):
    case = CaseFactory(facility=promoter.facility)
    url = f"/api/v1/subjects/{case.subject.pseudonym}"
    assert client.delete(url, headers=headers_for(promoter)).status_code == 403
    assert client.delete(url, headers=headers_for(UserFactory(manager=True))).status_code == 403
    assert client.delete("/api/v1/subjects/0000-0000-0",
                         headers=headers_for(UserFactory(admin=True))).status_code == 404
