"""People, identified by a random pseudonym; identifying fields are encrypted."""

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral.models.base import Base, CreatedMixin, IdMixin, UTCDateTime, choice, utcnow
from referral.models.codes import SEXES
from referral.models.encrypted import EncryptedField, encrypted_column
from referral.services import crypto


class DataKey(Base):
    """A subject's data key, wrapped by a KEK. Deleting it is crypto-shredding."""

    __tablename__ = "data_keys"

    subject_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True
    )
    kek_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    wrapped: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Subject(IdMixin, CreatedMixin, Base):
    __tablename__ = "subjects"

    # Stored without the dash: 8 random Crockford base32 characters and a check character.
    pseudonym: Mapped[str] = mapped_column(sa.String(9), unique=True)
    _given_name: Mapped[bytes | None] = encrypted_column("given_name")
    _family_name: Mapped[bytes | None] = encrypted_column("family_name")
    _birth_date: Mapped[bytes | None] = encrypted_column("birth_date")
    _birth_year: Mapped[bytes | None] = encrypted_column("birth_year")
    _age_estimate: Mapped[bytes | None] = encrypted_column("age_estimate")
    _phone: Mapped[bytes | None] = encrypted_column("phone")
    sex: Mapped[str] = mapped_column(choice("sex", SEXES), default="unknown")
    nationality: Mapped[str | None] = mapped_column(sa.String(2))
    languages: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Keyed HMAC of the normalized identifying fields, for duplicate detection.
    match_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    created_facility_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("facilities.id"))
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    given_name = EncryptedField("_given_name")
    family_name = EncryptedField("_family_name")
    birth_date = EncryptedField("_birth_date", date)
    birth_year = EncryptedField("_birth_year", int)
    age_estimate = EncryptedField("_age_estimate", int)
    phone = EncryptedField("_phone")

    data_key: Mapped[DataKey | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )

    def data_key_bytes(self, create: bool = False) -> bytes | None:
        """This subject's DEK in clear (cached on the instance), or None once erased."""
        cached = self.__dict__.get("_dek")
        if cached is not None:
            return cached
        if self.data_key is None:
            if not create or self.erased_at is not None:
                return None
            dek = crypto.new_data_key()
            kek_id, wrapped = crypto.keyring().wrap(dek, str(self.id))
            self.data_key = DataKey(kek_id=kek_id, wrapped=wrapped)
        else:
            dek = crypto.keyring().unwrap(
                self.data_key.kek_id, self.data_key.wrapped, str(self.id)
            )
        self.__dict__["_dek"] = dek
        return dek

    def forget_data_key(self) -> None:
        self.__dict__.pop("_dek", None)


class Consent(IdMixin, CreatedMixin, Base):
    """What the person agreed to at one intake; withdrawal is recorded, never deleted."""

    __tablename__ = "consents"

    subject_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    data_collection: Mapped[bool] = mapped_column(sa.Boolean)
    referral_sharing: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    follow_up_contact: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    method: Mapped[str] = mapped_column(choice("consent_method", ("verbal", "written")))
    given_by: Mapped[str] = mapped_column(choice("consent_given_by", ("self", "guardian")))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subject: Mapped[Subject] = relationship()
