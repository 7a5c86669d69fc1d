"""Statistics requests and answers of API.md (managers, admins)."""

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from referral.schemas.common import StrictSchema
from referral.services import aggregates, periods, reports

FORMATS = ("json", "csv", "xlsx")


class DimensionList(fields.String):
    """`group_by`: up to three dimension names, comma separated, each once."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in aggregates.DIMENSIONS["referrals"]]
        if unknown:
            raise ValidationError(
                f"Unknown dimension {unknown[0]!r}; one of: "
                f"{', '.join(aggregates.DIMENSIONS['referrals'])}.")
        if len(set(names)) != len(names):
            raise ValidationError("A dimension may be named only once.")
        if len(names) > aggregates.MAX_DIMENSIONS:
            raise ValidationError(
                f"At most {aggregates.MAX_DIMENSIONS} dimensions (ask for a coarser table).")
        return tuple(names)


class StatsArgs(StrictSchema):
    metric = fields.String(load_default="cases", validate=validate.OneOf(aggregates.METRICS))
    period = fields.String(load_default="month", validate=validate.OneOf(periods.KINDS))
    group_by = DimensionList(load_default=(), metadata={
        "description": "Up to 3 comma-separated dimensions; `service`, `referral_status` "
                       "and `to_facility` need metric=referrals."})
    from_ = fields.String(data_key="from", validate=validate.Length(max=10), metadata={
        "description": "A date, a month (YYYY-MM) or a key of the period (2026-Q1, "
                       "2026-W05, 2026); snapped outward to its period. Default: the "
                       "period of the first record."})
    to = fields.String(validate=validate.Length(max=10), metadata={
        "description": "As `from`, snapped outward. Default: the last finished period."})
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))

    @validates_schema
    def _fits(self, data, **kwargs):
        misfits = [name for name in data.get("group_by", ())
                   if name not in aggregates.DIMENSIONS[data.get("metric", "cases")]]
        if misfits:
            raise ValidationError(
                f"{misfits[0]!r} is a dimension of metric=referrals only.", "group_by")

    @post_load
    def _range(self, data, **kwargs):
        kind, errors = data["period"], {}
        for name, field, last in (("from_", "from", False), ("to", "to", True)):
            if data.get(name) is not None:
                try:
                    data[name] = periods.snapped(kind, data[name], last=last)
                except ValueError as exc:
                    errors[field] = [f"{str(exc).capitalize()}."]
        if errors:
            raise ValidationError(errors)
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError("Ends before `from` begins.", "to")
        return reports.Query(metric=data["metric"], period=kind, group_by=data["group_by"],
                             first=data.get("from_"), last=data.get("to"),
                             format=data["format"])


class RangeOut(Schema):
    from_ = fields.Date(data_key="from", attribute="from", allow_none=True)
    to = fields.Date(allow_none=True)


class HiddenOut(Schema):
    cells = fields.Float(metadata={"description": "Share of the listed cells suppressed."})
    people = fields.Float(allow_none=True, metadata={
        "description": "Share of the count in suppressed cells, worked out from the "
                       "published figures; null where that would reveal a hidden count "
                       "(a multi-valued dimension, or a suppressed total)."})


class StatsOut(Schema):
    metric = fields.String()
    period = fields.String()
    group_by = fields.List(fields.String())
    k = fields.Integer(metadata={"description": "Counts from 1 to k-1 are never published."})
    range = fields.Nested(RangeOut, metadata={
        "description": "The range asked for, snapped outward to whole periods."})
    periods = fields.List(fields.String(), metadata={
        "description": "The finished periods answered, in order (unfinished ones are left "
                       "out)."})
    rows = fields.List(fields.Dict(), metadata={
        "description": "{period, <dimension>: value, ..., count} for every combination that "
                       "occurs and every suppressed cell (count null, suppressed true); an "
                       "unlisted combination is 0. By week, quarter or year, every "
                       "referral_status is listed, suppressed, wherever referrals occur, 0 "
                       "included."})
    totals = fields.List(fields.Dict(), metadata={
        "description": "{period, count} per period, suppressed in the same way."})
    hidden = fields.Nested(HiddenOut)
