"""factory-boy factories for the models (flushed into the test's session)."""

from datetime import timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from referral.extensions import db
from referral.models import Case, Consent, Facility, Referral, Subject, User
from referral.models.base import utcnow
from referral.services import pseudonyms
from referral.services.auth import hash_password

DEFAULT_PASSWORD = "correct horse battery staple"


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class FacilityFactory(Base):
    class Meta:
        model = Facility

    code = factory.Sequence(lambda n: f"CL-SV-TEST-{n:04d}")
    name = factory.Sequence(lambda n: f"Clínica de prueba {n}")
    kind = "clinic"
    country = "SV"
    admin_area = "La Unión"
    latitude = 13.625
    longitude = -87.894
    languages = factory.LazyFunction(lambda: ["es"])
    services = factory.LazyFunction(lambda: ["primary_care", "gbv_care"])
    capacity_total = 20
    capacity_available = 5
    confidential = False
    active = True


class BorderPostFactory(FacilityFactory):
    code = factory.Sequence(lambda n: f"BP-SV-TEST-{n:04d}")
    name = factory.Sequence(lambda n: f"Puesto fronterizo {n}")
    kind = "border_post"
    services = factory.LazyFunction(lambda: ["primary_care"])


class UserFactory(Base):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    password_hash = factory.LazyFunction(lambda: hash_password(DEFAULT_PASSWORD))
    role = "promoter"
    facility = factory.SubFactory(BorderPostFactory)
    active = True

    class Params:
        manager = factory.Trait(role="manager", facility=None)
        admin = factory.Trait(role="admin", facility=None)
        staff = factory.Trait(role="facility_staff")


class SubjectFactory(Base):
    class Meta:
        model = Subject

    pseudonym = factory.LazyFunction(pseudonyms.generate)
    given_name = factory.Faker("first_name", locale="es_MX")
    family_name = factory.Faker("last_name", locale="es_MX")
    birth_year = 1994
    sex = "female"
    nationality = "HN"
    languages = factory.LazyFunction(lambda: ["es"])


class ConsentFactory(Base):
    class Meta:
        model = Consent

    subject = factory.SubFactory(SubjectFactory)
    data_collection = True
    referral_sharing = True
    follow_up_contact = True
    method = "verbal"
    given_by = "self"


class CaseFactory(Base):
    class Meta:
        model = Case

    class Params:
        facility = factory.SubFactory(BorderPostFactory)

    subject = factory.SubFactory(SubjectFactory)
    facility_id = factory.SelfAttribute("facility.id")
    consent = factory.SubFactory(ConsentFactory, subject=factory.SelfAttribute("..subject"))
    status = "open"
    urgency = "routine"
    travel_direction = "northbound"
    sex = factory.SelfAttribute("subject.sex")
    nationality = factory.SelfAttribute("subject.nationality")
    age_band = "30-49"
    needs = factory.LazyFunction(lambda: ["acute_illness"])
    vulnerabilities = factory.LazyFunction(list)
    notes = "Dolor abdominal desde hace dos días."


FINAL_STATES = ("declined", "expired", "cancelled", "completed", "no_show")


class ReferralFactory(Base):
    """A referral in any state, with the timestamps that state implies."""

    class Meta:
        model = Referral

    class Params:
        to_facility = factory.SubFactory(FacilityFactory)

    code = factory.LazyFunction(pseudonyms.generate_slip_code)
    case = factory.SubFactory(CaseFactory)
    from_facility_id = factory.SelfAttribute("case.facility_id")
    to_facility_id = factory.SelfAttribute("to_facility.id")
    urgency = "urgent"
    share = "minimum"
    status = "pending"
    services = factory.LazyFunction(lambda: ["gbv_care"])
    reason = "Valoración y acompañamiento."
    expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(hours=48))
    responded_at = factory.LazyAttribute(
        lambda o: utcnow() if o.status in ("accepted", "declined", "completed", "no_show")
        else None)
    completed_at = factory.LazyAttribute(
        lambda o: utcnow() if o.status in ("completed", "no_show") else None)
    closed_at = factory.LazyAttribute(
        lambda o: utcnow() if o.status in FINAL_STATES else None)
    outcome = factory.LazyAttribute(
        lambda o: {"completed": "treated", "no_show": "no_show"}.get(o.status))
