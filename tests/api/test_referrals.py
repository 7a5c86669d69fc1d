"""Referrals through the HTTP API: the whole journey, the lifecycle and its refusals."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from referral.extensions import db
from referral.models import AuditEvent, FollowUp, Notification, Referral
from referral.services import pseudonyms
from tests.api.test_cases import intake_body
from tests.factories import (
    BorderPostFactory,
    CaseFactory,
    FacilityFactory,
    ReferralFactory,
    UserFactory,
)


@pytest.fixture
def world():
    """El Amatillo (SV) with a promoter; two clinics inland with staff; an outsider post."""
    post = BorderPostFactory(code="BP-SV-EL-AMATILLO", name="El Amatillo", latitude=13.601,
                             longitude=-87.766)
    near = FacilityFactory(code="CL-SV-SANTA-ROSA", name="Clínica Santa Rosa de Lima",
                           latitude=13.625, longitude=-87.894,
                           services=["primary_care", "gbv_care", "mental_health"])
    far = FacilityFactory(code="CL-SV-SAN-MIGUEL", name="Clínica San Miguel",
                          latitude=13.483, longitude=-88.177,
                          services=["primary_care", "gbv_care"])
    outsider = BorderPostFactory(code="BP-GT-LA-HACHADURA", latitude=13.86, longitude=-90.09)
    return {
        "post": post, "near": near, "far": far, "outsider": outsider,
        "promoter": UserFactory(role="promoter", facility=post),
        "near_staff": UserFactory(role="facility_staff", facility=near),
        "far_staff": UserFactory(role="facility_staff", facility=far),
        "outsider_staff": UserFactory(role="facility_staff", facility=outsider),
        "outsider_promoter": UserFactory(role="promoter", facility=outsider),
    }


def refer(client, headers, case_id, to_facility_id, **extra):
    body = {"case_id": str(case_id), "to_facility_id": str(to_facility_id),
            "services": ["gbv_care"], "reason": "Atención tras agresión.", **extra}
    return client.post("/api/v1/referrals", json=body, headers=headers)


def test_the_whole_journey_from_intake_to_outcome(client, headers_for, world):
    promoter = headers_for(world["promoter"])
    clinic = headers_for(world["near_staff"])

    # Intake at El Amatillo.
    body = intake_body(needs=["gbv"], vulnerabilities=["gbv_survivor"], urgency="urgent")
    case = client.post("/api/v1/cases", json=body, headers=promoter).get_json()
    assert case["status"] == "open"

    # Options for gbv_care: the nearer clinic first, with its reasons.
    options = client.get(f"/api/v1/cases/{case['id']}/referral-options?service=gbv_care",
                         headers=promoter)
    assert options.status_code == 200
    ranked = options.get_json()
    assert [o["facility_id"] for o in ranked[:2]] == [str(world["near"].id),
                                                      str(world["far"].id)]
    assert any("gbv_care" in reason for reason in ranked[0]["reasons"])

    # Referral to the clinic.
    created = refer(client, promoter, case["id"], ranked[0]["facility_id"])
    assert created.status_code == 201
    referral = created.get_json()
    assert referral["status"] == "pending"
    assert referral["code"].startswith("R-") and len(referral["code"]) == 11
    assert client.get(f"/api/v1/cases/{case['id']}", headers=promoter).get_json()[
        "status"] == "referred"

    # The clinic's inbox and notification.
    inbox = client.get("/api/v1/referrals?direction=incoming&status=pending",
                       headers=clinic).get_json()
    assert [r["id"] for r in inbox["items"]] == [referral["id"]]
    assert inbox["items"][0]["pseudonym"] == case["subject"]["pseudonym"]
    notes = client.get("/api/v1/notifications", headers=clinic).get_json()
    assert [(n["kind"], n["referral_id"]) for n in notes["items"]] == [
        ("referral_received", referral["id"])]
    assert client.post(f"/api/v1/notifications/{notes['items'][0]['id']}/read",
                       headers=clinic).status_code == 200

    # The clinic sees the minimum packet of the case: no name, no notes.
    shared = client.get(f"/api/v1/cases/{case['id']}", headers=clinic).get_json()
    assert shared["subject"]["pseudonym"] == case["subject"]["pseudonym"]
    assert shared["needs"] == ["gbv"]
    assert shared["subject"]["given_name"] is None and shared["notes"] is None

    # Accept, then complete with an outcome.
    accepted = client.post(f"/api/v1/referrals/{referral['id']}/accept", headers=clinic)
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    done = client.post(f"/api/v1/referrals/{referral['id']}/complete", headers=clinic,
                       json={"outcome": "treated", "notes": "Curación y profilaxis."})
    assert done.status_code == 200
    assert done.get_json()["completion_notes"] == "Curación y profilaxis."

    # The sending post sees the outcome, never the clinic's notes.
    seen = client.get(f"/api/v1/referrals/{referral['id']}", headers=promoter).get_json()
    assert (seen["status"], seen["outcome"]) == ("completed", "treated")
    assert seen["completion_notes"] is None

    # The attendance follow-up at the post is closed.
    follow_ups = client.get("/api/v1/follow-ups?status=done", headers=promoter).get_json()
    assert [(f["kind"], f["referral_id"], f["outcome"]) for f in follow_ups["items"]] == [
        ("referral_attendance", referral["id"], "attended")]
    still_open = client.get("/api/v1/follow-ups", headers=promoter).get_json()
    assert still_open["total"] == 0


@pytest.fixture
def case(world):
    return CaseFactory(facility=world["post"], needs=["gbv"], vulnerabilities=["gbv_survivor"])


def test_referral_needs_consent_to_share(client, headers_for, world, case):
    case.consent.referral_sharing = False
    response = refer(client, headers_for(world["promoter"]), case.id, world["near"].id)
    assert response.status_code == 422
    assert "case_id" in response.get_json()["error"]["fields"]


def test_referral_refuses_a_service_the_target_does_not_offer(client, headers_for, world, case):
    response = refer(client, headers_for(world["promoter"]), case.id, world["far"].id,
                     services=["mental_health"])
    assert response.status_code == 422
    assert "services" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize(("accepts", "case_fields"), [
    ({"accepts_minors": False}, {"age_band": "12-17"}),
    ({"accepts_minors": False}, {"vulnerabilities": ["unaccompanied_minor"]}),
    ({"accepts_trafficking_survivors": False}, {"needs": ["trafficking"]}),
    ({"accepts_women_only": True}, {"sex": "male"}),
])
def test_referral_refuses_a_subject_the_target_does_not_accept(client, headers_for, world,
                                                              accepts, case_fields):
    target = FacilityFactory(services=["shelter"], **accepts)
    subject_case = CaseFactory(facility=world["post"], **case_fields)
    response = refer(client, headers_for(world["promoter"]), subject_case.id, target.id,
                     services=["shelter"])
    assert response.status_code == 422
    assert "to_facility_id" in response.get_json()["error"]["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0


def test_referral_refuses_unknown_fields_and_unknown_targets(client, headers_for, world, case):
    headers = headers_for(world["promoter"])
    response = refer(client, headers, case.id, world["near"].id, migration_status="irregular")
    assert response.status_code == 422
    assert "migration_status" in response.get_json()["error"]["fields"]
    response = refer(client, headers, case.id, case.id)
    assert response.status_code == 422
    assert "to_facility_id" in response.get_json()["error"]["fields"]


BODIES = {"accept": None, "decline": {"reason_code": "other"},
          "complete": {"outcome": "attended"}, "cancel": {"reason": "x"}}


def test_an_outsider_facility_gets_404_on_the_case_and_the_referral(client, headers_for, world,
                                                                    case):
    referral = refer(client, headers_for(world["promoter"]), case.id,
                     world["near"].id).get_json()
    for user in ("outsider_staff", "outsider_promoter", "far_staff"):
        headers = headers_for(world[user])
        for path in (f"/api/v1/cases/{case.id}", f"/api/v1/referrals/{referral['id']}",
                     f"/api/v1/referrals/by-code/{referral['code']}"):
            response = client.get(path, headers=headers)
            assert response.status_code == 404, (user, path)
            assert response.get_json()["error"]["code"] == "not_found"
        for action, body in BODIES.items():
            response = client.post(f"/api/v1/referrals/{referral['id']}/{action}",
                                   headers=headers, json=body)
            # A promoter may never answer a referral (403 whatever it is); else unseen: 404.
            expected = 403 if user.endswith("promoter") and action != "cancel" else 404
            assert response.status_code == expected, (user, action)


def test_referring_someone_elses_case_is_404(client, headers_for, world):
    other = CaseFactory(facility=world["outsider"])
    response = refer(client, headers_for(world["promoter"]), other.id, world["near"].id)
    assert response.status_code == 404


NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# (state the referral is in, action, body, who acts)
ILLEGAL = [
    (state, action)
    for state, allowed in {
        "pending": {"accept", "decline", "cancel"},
        "accepted": {"complete", "cancel"},
        "declined": set(), "expired": set(), "cancelled": set(), "completed": set(),
        "no_show": set(),
    }.items()
    for action in ("accept", "decline", "complete", "cancel") if action not in allowed
]


@pytest.mark.parametrize(("state", "action"), ILLEGAL, ids=[f"{s}-{a}" for s, a in ILLEGAL])
def test_every_illegal_transition_is_409(client, headers_for, world, case, state, action):
    referral = ReferralFactory(case=case, to_facility=world["near"], status=state)
    actor = world["promoter"] if action == "cancel" else world["near_staff"]
    response = client.post(f"/api/v1/referrals/{referral.id}/{action}",
                           headers=headers_for(actor), json={"outcome": "attended"}
                           if action == "complete" else {})
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["code"] == "conflict"
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).status == state


def test_a_pending_referral_past_its_time_cannot_be_accepted(client, headers_for, world, case):
    referral = ReferralFactory(case=case, to_facility=world["near"],
                               expires_at=datetime.now(UTC) - timedelta(minutes=1))
    response = client.post(f"/api/v1/referrals/{referral.id}/accept",
                           headers=headers_for(world["near_staff"]))
    assert response.status_code == 409
    assert "expired" in response.get_json()["error"]["message"]


def test_only_receiving_staff_accept_and_only_the_sender_cancels(client, headers_for, world,
                                                                 case):
    referral = refer(client, headers_for(world["promoter"]), case.id,
                     world["near"].id).get_json()
    # A promoter may never accept (403); the sender's staff cannot accept their own referral.
    assert client.post(f"/api/v1/referrals/{referral['id']}/accept",
                       headers=headers_for(world["promoter"])).status_code == 403
    sender_staff = UserFactory(role="facility_staff", facility=world["post"])
    assert client.post(f"/api/v1/referrals/{referral['id']}/accept",
                       headers=headers_for(sender_staff)).status_code == 404
    assert client.post(f"/api/v1/referrals/{referral['id']}/cancel",
                       headers=headers_for(world["near_staff"])).status_code == 404
    cancelled = client.post(f"/api/v1/referrals/{referral['id']}/cancel",
                            headers=headers_for(world["promoter"]),
                            json={"reason": "Ya no lo necesita."})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status_reason"] == "cancelled_by_sender"


def test_decline_ends_access_and_sends_the_sender_the_next_options(client, headers_for, world,
                                                                   case):
    promoter, clinic = headers_for(world["promoter"]), headers_for(world["near_staff"])
    referral = refer(client, promoter, case.id, world["near"].id).get_json()
    assert client.get(f"/api/v1/cases/{case.id}", headers=clinic).status_code == 200
    declined = client.post(f"/api/v1/referrals/{referral['id']}/decline", headers=clinic,
                           json={"reason_code": "no_capacity", "reason": "Sin camas hoy."})
    assert declined.status_code == 200
    assert declined.get_json()["status_reason"] == "no_capacity"
    # The clinic no longer sees the case, nor the person on the referral.
    assert client.get(f"/api/v1/cases/{case.id}", headers=clinic).status_code == 404
    after = client.get(f"/api/v1/referrals/{referral['id']}", headers=clinic).get_json()
    assert after["pseudonym"] is None and after["reason"] is None
    # The sender is told, with the next options (not the clinic that declined).
    notes = client.get("/api/v1/notifications", headers=promoter).get_json()["items"]
    [declined_note] = [n for n in notes if n["kind"] == "referral_declined"]
    assert declined_note["referral_id"] == referral["id"]
    offered = [o["facility_id"] for o in declined_note["options"]]
    assert str(world["far"].id) in offered and str(world["near"].id) not in offered
    # The case is open again, and its attendance follow-up was cancelled.
    assert client.get(f"/api/v1/cases/{case.id}", headers=promoter).get_json()[
        "status"] == "open"
    statuses = db.session.scalars(sa.select(FollowUp.status)
                                  .where(FollowUp.referral_id == uuid.UUID(referral["id"]))).all()
    assert statuses == ["cancelled"]


def test_full_share_shows_names_and_notes_to_the_receiver(client, headers_for, world, case):
    refer(client, headers_for(world["promoter"]), case.id, world["near"].id, share="full")
    shared = client.get(f"/api/v1/cases/{case.id}",
                        headers=headers_for(world["near_staff"])).get_json()
    assert shared["subject"]["given_name"] == case.subject.given_name
    assert shared["notes"] == case.notes
    assert shared["subject"]["nationality"] is None
    assert shared["consent"] is None and shared["created_by"] is None


def test_receiver_access_lasts_the_share_window_after_completion(app, client, headers_for,
                                                                 world, case):
    clinic = headers_for(world["near_staff"])
    inside = ReferralFactory(case=case, to_facility=world["near"], status="completed",
                             completed_at=datetime.now(UTC) - timedelta(days=29))
    assert client.get(f"/api/v1/cases/{case.id}", headers=clinic).status_code == 200
    db.session.execute(sa.update(Referral).where(Referral.id == inside.id).values(
        completed_at=datetime.now(UTC) - timedelta(days=31)))
    assert client.get(f"/api/v1/cases/{case.id}", headers=clinic).status_code == 404
    app.config["SHARE_DAYS"] = 60
    assert client.get(f"/api/v1/cases/{case.id}", headers=clinic).status_code == 200


def test_the_receiver_cannot_edit_a_shared_case(client, headers_for, world, case):
    refer(client, headers_for(world["promoter"]), case.id, world["near"].id)
    response = client.patch(f"/api/v1/cases/{case.id}", json={"urgency": "emergency"},
                            headers=headers_for(world["near_staff"]))
    assert response.status_code == 404


def test_slip_code_finds_the_referral_forgivingly(client, headers_for, world, case):
    referral = refer(client, headers_for(world["promoter"]), case.id,
                     world["near"].id).get_json()
    typed = referral["code"].lower().replace("-", " ").replace("r ", "", 1)
    found = client.get(f"/api/v1/referrals/by-code/{typed}",
                       headers=headers_for(world["near_staff"]))
    assert found.status_code == 200 and found.get_json()["id"] == referral["id"]
    code = pseudonyms.normalize_slip_code(referral["code"])
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert client.get(f"/api/v1/referrals/by-code/{wrong}",
                      headers=headers_for(world["near_staff"])).status_code == 404


def test_incoming_list_puts_pending_emergencies_first(client, headers_for, world, case):
    routine = ReferralFactory(case=case, to_facility=world["near"], urgency="routine")
    accepted = ReferralFactory(case=case, to_facility=world["near"], status="accepted",
                               urgency="emergency")
    emergency = ReferralFactory(case=CaseFactory(facility=world["post"]),
                                to_facility=world["near"], urgency="emergency")
    ReferralFactory(case=case, to_facility=world["far"])
    listed = client.get("/api/v1/referrals?direction=incoming",
                        headers=headers_for(world["near_staff"])).get_json()
    assert [r["id"] for r in listed["items"]] == [str(emergency.id), str(routine.id),
                                                  str(accepted.id)]
    outgoing = client.get("/api/v1/referrals?direction=outgoing",
                          headers=headers_for(world["promoter"])).get_json()
    assert outgoing["total"] == 4


def test_creating_a_referral_schedules_attendance_and_notifies_the_receiver(
        client, headers_for, world, case):
    referral = refer(client, headers_for(world["promoter"]), case.id, world["near"].id,
                     urgency="emergency").get_json()
    follow_up = db.session.scalar(sa.select(FollowUp).where(
        FollowUp.referral_id == uuid.UUID(referral["id"])))
    stored = db.session.get(Referral, uuid.UUID(referral["id"]))
    assert follow_up.kind == "referral_attendance"
    assert follow_up.assigned_facility_id == world["post"].id
    assert follow_up.due_at - stored.created_at == timedelta(hours=24)
    assert stored.expires_at - stored.created_at == timedelta(hours=4)
    kinds = db.session.scalars(sa.select(Notification.kind).where(
        Notification.facility_id == world["near"].id)).all()
    assert kinds == ["referral_received"]


def test_accepting_a_gbv_referral_schedules_a_safety_check_at_the_receiver(
        client, headers_for, world, case):
    referral = refer(client, headers_for(world["promoter"]), case.id,
                     world["near"].id).get_json()
    client.post(f"/api/v1/referrals/{referral['id']}/accept",
                headers=headers_for(world["near_staff"]))
    checks = client.get("/api/v1/follow-ups", headers=headers_for(world["near_staff"]))
    assert [(f["kind"], f["referral_id"]) for f in checks.get_json()["items"]] == [
        ("safety_check", referral["id"])]


def test_referral_audit_events_hold_no_personal_values(client, headers_for, world, case):
    referral = refer(client, headers_for(world["promoter"]), case.id,
                     world["near"].id).get_json()
    client.post(f"/api/v1/referrals/{referral['id']}/decline",
                headers=headers_for(world["near_staff"]),
                json={"reason_code": "other", "reason": "Motivo confidencial XYZ"})
    events = db.session.scalars(sa.select(AuditEvent)).all()
    text = repr([(e.action, e.detail) for e in events])
    assert "referral_created" in text and "referral_declined" in text
    for secret in ("Motivo confidencial", "Atención tras agresión", case.subject.given_name):
        assert secret not in text


def test_receiving_staff_look_up_the_person_through_the_shared_view(client, headers_for,
                                                                    world, case):
    refer(client, headers_for(world["promoter"]), case.id, world["near"].id)
    from referral.services.pseudonyms import display

    code = display(case.subject.pseudonym)
    seen = client.get(f"/api/v1/subjects/{code}", headers=headers_for(world["near_staff"]))
    assert seen.status_code == 200
    body = seen.get_json()
    assert body["given_name"] is None and body["phone"] is None
    assert body["possible_duplicates"] == []
    assert [c["id"] for c in body["cases"]] == [str(case.id)]
    assert body["cases"][0]["notes"] is None
    assert client.get(f"/api/v1/subjects/{code}",
                      headers=headers_for(world["far_staff"])).status_code == 404


def test_erasure_shreds_the_referral_and_follow_up_texts_too(client, headers_for, world, case):
    referral = refer(client, headers_for(world["promoter"]), case.id,
                     world["near"].id).get_json()
    client.post(f"/api/v1/referrals/{referral['id']}/decline",
                headers=headers_for(world["near_staff"]), json={"reason": "Nota del rechazo."})
    due = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.post(f"/api/v1/cases/{case.id}/follow-ups", headers=headers_for(
        world["promoter"]), json={"kind": "contact", "due_at": due,
                                  "notes": "Llamar al tío."}).status_code == 201
    admin = UserFactory(admin=True)
    from referral.services.pseudonyms import display

    assert client.delete(f"/api/v1/subjects/{display(case.subject.pseudonym)}",
                         headers=headers_for(admin)).status_code == 204
    seen = client.get(f"/api/v1/referrals/{referral['id']}",
                      headers=headers_for(world["promoter"])).get_json()
    assert (seen["reason"], seen["status_note"]) == (None, None)
    assert (seen["status"], seen["status_reason"], seen["services"]) == (
        "declined", "other", ["gbv_care"])
    raw = db.session.execute(sa.text(
        "SELECT reason, status_note, completion_notes FROM referrals")).all()
    assert raw == [(None, None, None)]
    assert db.session.execute(sa.text("SELECT notes FROM follow_ups")).scalars().all() == [
        None, None]


def test_the_receiver_schedules_its_own_follow_up_while_the_case_is_shared(client, headers_for,
                                                                         world, case):
    referral = refer(client, headers_for(world["promoter"]), case.id,
                     world["near"].id).get_json()
    clinic = headers_for(world["near_staff"])
    due = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"kind": "clinical_review", "due_at": due}
    made = client.post(f"/api/v1/cases/{case.id}/follow-ups", headers=clinic, json=body)
    assert made.status_code == 201
    assert made.get_json()["assigned_facility_id"] == str(world["near"].id)
    client.post(f"/api/v1/referrals/{referral['id']}/decline", headers=clinic)
    again = client.post(f"/api/v1/cases/{case.id}/follow-ups", headers=clinic, json=body)
    assert again.status_code == 404


def test_decline_and_cancel_need_no_body(client, headers_for, world, case):
    first = refer(client, headers_for(world["promoter"]), case.id, world["near"].id).get_json()
    declined = client.post(f"/api/v1/referrals/{first['id']}/decline",
                           headers=headers_for(world["near_staff"]))
    assert declined.status_code == 200
    assert declined.get_json()["status_reason"] == "other"
    second = refer(client, headers_for(world["promoter"]), case.id, world["far"].id).get_json()
    cancelled = client.post(f"/api/v1/referrals/{second['id']}/cancel",
                            headers=headers_for(world["promoter"]))
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"


def test_a_gbv_survivor_is_only_referred_where_gbv_care_or_protection_is_offered(
        client, headers_for, world, case):
    plain = FacilityFactory(services=["primary_care"], accepts_trafficking_survivors=False)
    refused = refer(client, headers_for(world["promoter"]), case.id, plain.id,
                    services=["primary_care"])
    assert refused.status_code == 422
    assert "to_facility_id" in refused.get_json()["error"]["fields"]
    shelter = FacilityFactory(services=["primary_care"], accepts_trafficking_survivors=True)
    assert refer(client, headers_for(world["promoter"]), case.id, shelter.id,
                 services=["primary_care"]).status_code == 201


def test_a_second_live_referral_to_the_same_facility_is_409(client, headers_for, world, case):
    headers = headers_for(world["promoter"])
    assert refer(client, headers, case.id, world["near"].id).status_code == 201
    again = refer(client, headers, case.id, world["near"].id)
    assert again.status_code == 409
    assert refer(client, headers, case.id, world["far"].id).status_code == 201


def test_a_closed_case_is_reopened_before_it_is_referred(client, headers_for, world, case):
    headers = headers_for(world["promoter"])
    assert client.patch(f"/api/v1/cases/{case.id}", json={"status": "closed"},
                        headers=headers).status_code == 200
    assert refer(client, headers, case.id, world["near"].id).status_code == 409
    client.patch(f"/api/v1/cases/{case.id}", json={"status": "open"}, headers=headers)
    assert refer(client, headers, case.id, world["near"].id).status_code == 201


def test_a_no_show_outcome_closes_the_referral_as_no_show_and_the_attendance_as_missed(
        client, headers_for, world, case):
    referral = refer(client, headers_for(world["promoter"]), case.id,
                     world["near"].id).get_json()
    clinic = headers_for(world["near_staff"])
    client.post(f"/api/v1/referrals/{referral['id']}/accept", headers=clinic)
    closed = client.post(f"/api/v1/referrals/{referral['id']}/complete", headers=clinic,
                         json={"outcome": "no_show"})
    assert (closed.get_json()["status"], closed.get_json()["outcome"]) == ("no_show", "no_show")
    missed = client.get("/api/v1/follow-ups?status=missed",
                        headers=headers_for(world["promoter"])).get_json()["items"]
    assert [(f["referral_id"], f["outcome"]) for f in missed] == [(referral["id"], "missed")]
    notes = client.get("/api/v1/notifications",
                       headers=headers_for(world["promoter"])).get_json()["items"]
    assert ("referral_completed", referral["id"]) in [(n["kind"], n["referral_id"])
                                                      for n in notes]


def test_a_case_with_a_pending_referral_cannot_be_closed_until_it_is_cancelled(
        client, headers_for, world, case):
    headers = headers_for(world["promoter"])
    referral = refer(client, headers, case.id, world["near"].id).get_json()
    refused = client.patch(f"/api/v1/cases/{case.id}", json={"status": "closed"},
                           headers=headers)
    assert refused.status_code == 409
    client.post(f"/api/v1/referrals/{referral['id']}/cancel", headers=headers)
    closed = client.patch(f"/api/v1/cases/{case.id}", json={"status": "closed"},
                          headers=headers)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
