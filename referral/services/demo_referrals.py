"""The demo's referral loop: intakes, referrals, follow-ups and notifications, in time order.

Everything happens on a timeline, at its own moment, through the same services as the
API with that moment as `now=`: intakes, referrals, answers, completions, follow-up
checks, notifications read. The scheduled jobs run within five minutes of each expiry and
due time, as the real scheduler would, so every state agrees with the clock: an expired
referral went unanswered past its deadline, an overdue follow-up is past due. What becomes
of each referral is its plan (demo_plans).
"""

import heapq
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, lazyload

from referral.models import Case, Facility, FollowUp, Notification, Referral, User
from referral.models.codes import FOLLOW_UP_OPEN, LIVE_REFERRAL_STATUSES
from referral.schemas.case import CaseIn
from referral.services import followups, intake, notifications, pseudonyms, referrals, routing
from referral.services.demo import case_body
from referral.services.demo_plans import (
    AMATILLO,
    DAY,
    NEEDS_FIRST,
    REASONS,
    SCENES,
    SERVICE_OF_NEED,
    Plan,
    draw_plan,
    weighted,
)

# Not an argon2 hash: verifying any password against it fails, so no one logs in as a stand-in.
LOCKED_HASH = "!"
# The demo users read what arrived up to three days ago; what came since waits for them.
UNREAD_SINCE = 3 * DAY
REFERRED = 0.25  # of the people who agree to share their case, how many are referred
SCENE_DELAY = timedelta(minutes=20)  # from a scene's intake to its referral


class Timeline:
    """Actions at moments up to `now`, run in time order (ties in the order added)."""

    def __init__(self, now: datetime):
        self.now, self._queue, self._order = now, [], itertools.count()

    def add(self, when: datetime, action, *args) -> bool:
        """Queue `action(when, *args)`; a moment after now never comes (False)."""
        if when > self.now:
            return False
        heapq.heappush(self._queue, (when, next(self._order), action, args))
        return True

    def run(self, after_each) -> None:
        """Run the actions in time order, including those they queue on the way."""
        while self._queue:
            when, _, action, args = heapq.heappop(self._queue)
            action(when, *args)
            after_each(when)


class Story:
    """The referral loop of the demo, acted by the demo users and stand-in staff.

    It holds on to the rows it acts on: the session's identity map is weak, and loading a
    referral with its case again for every step would make the demo several times slower."""

    def __init__(self, session: Session, users: list[User], *, rng: random.Random,
                 now: datetime, batch_size: int = 50, between_batches=None):
        self.session, self.rng, self.now = session, rng, now
        self.timeline = Timeline(now)
        self.readers = {u.facility_id: u for u in users if u.facility_id is not None}
        self.staff = {u.facility_id: u for u in users if u.role == "facility_staff"}
        self.demo_targets = set(self.staff)
        self.facilities = {f.id: f for f in session.scalars(sa.select(Facility))}
        self.posts = [f.id for f in self.facilities.values() if f.kind == "border_post"]
        self.counts, self.referrals_of = Counter(), {}
        self._steps, self.batch_size, self.between_batches = 0, batch_size, between_batches

    def run(self) -> None:
        """Play everything queued, then the jobs once more as of now."""
        self.timeline.add(self.now, self.tick)
        self.timeline.run(self._after_each)

    def _after_each(self, when) -> None:
        self._steps += 1
        if self.between_batches is not None and self._steps % self.batch_size == 0:
            self.between_batches()

    def _staff_of(self, facility_id) -> User:
        """The demo user of a facility, or a stand-in account that cannot log in."""
        if facility_id not in self.staff:
            username = f"equipo.{self.facilities[facility_id].code.lower()}"
            user = self.session.scalar(sa.select(User).where(User.username == username))
            if user is None:
                user = User(username=username, password_hash=LOCKED_HASH, active=False,
                            role="facility_staff", facility_id=facility_id)
                self.session.add(user)
                self.session.flush()
                self.counts["stand_ins"] += 1
            self.staff[facility_id] = user
        return self.staff[facility_id]

    # -- referring -----------------------------------------------------------------------

    def _services(self, case: Case, rng: random.Random) -> list[list[str]]:
        """Service sets to try, best first: the main need (and maybe a second), then others."""
        needs = [need for need in NEEDS_FIRST if need in case.needs]
        wanted = list(dict.fromkeys(SERVICE_OF_NEED[need] for need in needs))
        if case.urgency == "emergency" and {"injury", "acute_illness", "maternal"} & set(needs):
            wanted.insert(0, "emergency_care")
        tries = [[code] for code in dict.fromkeys(wanted + ["primary_care"])]
        if len(wanted) > 1 and rng.random() < 0.35:
            tries.insert(0, sorted(wanted[:2]))
        return tries

    def _target(self, when, case: Case, services, rng, prefer=None, tried=()):
        """A facility from the ranking: a demo facility when it ranks, else mostly the best.

        Never a border post: a post refers onwards, to a clinic, hospital or shelter."""
        exclude = [*self.posts, *tried]
        wanted = next((f for f in self.facilities.values() if f.code == prefer), None)
        if wanted and wanted.id not in exclude and not routing.refusals(case, wanted, services):
            return wanted.id
        options = routing.rank(self.session, case, services, now=when, exclude=exclude,
                               limit=5)
        demo = [o for o in options if o.facility_id in self.demo_targets]
        if demo and rng.random() < 0.85:
            return demo[0].facility_id
        if not options:
            return None
        return rng.choices(options[:3], weights=(6, 3, 1)[:len(options[:3])])[0].facility_id

    def refer(self, when, actor: User, case: Case, plan: Plan, rng: random.Random,
              services=None, prefer=None, tried=()) -> None:
        """The promoter refers the case to a ranked facility and the plan is set in motion."""
        for wanted in [list(services)] if services else self._services(case, rng):
            target = self._target(when, case, wanted, rng, prefer, tried)
            if target is not None:
                break
        else:
            self.counts["no_facility"] += 1
            return
        referral, _ = referrals.create(self.session, actor, {
            "case_id": case.id, "to_facility_id": target, "services": wanted,
            "urgency": case.urgency, "reason": REASONS[wanted[0]], "share": plan.share,
        }, now=when)
        self.counts["referrals"] += 1
        self.referrals_of.setdefault(case.id, []).append(referral)
        self.counts["retries"] += bool(tried)
        self._notified(when)
        self.timeline.add(referral.expires_at + self._jitter(), self.due, referral)
        self._follow_up(referral, "referral_attendance", plan.attendance_check,
                        plan.attendance_outcome)
        if plan.answer == "cancel":
            self.timeline.add(when + plan.answer_after, self.cancel, actor, referral)
        elif plan.answer in ("accept", "decline"):
            self.timeline.add(when + plan.answer_after, self.answer, referral, plan)
        if plan.retry is not None:
            after = (when + plan.answer_after if plan.answer == "decline"
                     else referral.expires_at + timedelta(minutes=5))
            self.timeline.add(after + plan.retry_after, self.refer_again, actor, referral,
                              plan.retry, rng)

    def refer_again(self, when, actor: User, referral: Referral, plan: Plan, rng) -> None:
        """After a decline or an expiry, the sender picks the next option."""
        if referral.status in ("declined", "expired") and referral.case.status != "closed":
            self.refer(when, actor, referral.case, plan, rng, services=referral.services,
                       tried=routing.tried_facilities(self.session, referral.case_id))

    def answer(self, when, referral: Referral, plan: Plan) -> None:
        """The receiving staff accept or decline; an acceptance sets what follows."""
        staff = self._staff_of(referral.to_facility_id)
        if plan.answer == "decline":
            referrals.decline(self.session, staff, referral.id, reason_code=plan.reason_code,
                              reason="Sin cupo por ahora" if plan.reason_code == "no_capacity"
                              else None, now=when)
            self._notified(when)
            return
        referrals.accept(self.session, staff, referral.id, now=when)
        self._notified(when)
        self._follow_up(referral, "safety_check", plan.safety_check,
                        weighted(self.rng, {"reached": 80, "not_reached": 20}))
        if plan.then == "cancel":
            self.timeline.add(when + plan.then_after, self.cancel,
                              self.readers[referral.from_facility_id], referral)
        elif plan.then is not None:
            self.timeline.add(when + plan.then_after, self.finish, referral, plan)

    def finish(self, when, referral: Referral, plan: Plan) -> None:
        """The receiving staff record the outcome: the person came, or did not."""
        outcome = "no_show" if plan.then == "no_show" else plan.outcome
        referrals.complete(self.session, self._staff_of(referral.to_facility_id), referral.id,
                           outcome=outcome, now=when)
        self._notified(when)

    def cancel(self, when, actor: User, referral: Referral) -> None:
        """The sender cancels: the person moved on (unless the referral is over already)."""
        if referral.status in LIVE_REFERRAL_STATUSES:
            referrals.cancel(self.session, actor, referral.id,
                             reason="La persona siguió su camino", now=when)
            self._notified(when)

    def close(self, when, actor: User, case: Case) -> None:
        """The post closes the case once none of its referrals is live (else a few days on)."""
        if any(r.status in LIVE_REFERRAL_STATUSES for r in self.referrals_of.get(case.id, ())):
            self.timeline.add(when + timedelta(days=self.rng.uniform(2, 6)), self.close, actor,
                              case)
            return
        intake.update_case(self.session, actor, case.id, {"status": "closed"}, now=when)
        self.counts["closed"] += 1

    # -- follow-ups, the jobs, notifications ----------------------------------------------

    def _follow_up(self, referral: Referral, kind: str, check_after, outcome: str) -> None:
        """Run the overdue job when it falls due, and have it checked when the plan says."""
        follow_up = self.session.scalar(  # its case is held already: no need to join it
            sa.select(FollowUp).options(lazyload(FollowUp.case))
            .where(FollowUp.referral_id == referral.id, FollowUp.kind == kind))
        if follow_up is None:
            return
        self.timeline.add(follow_up.due_at + self._jitter(), self.due, follow_up)
        if check_after is not None:
            self.timeline.add(follow_up.due_at + check_after, self.check, follow_up, outcome)

    def check(self, when, follow_up: FollowUp, outcome: str) -> None:
        """The assigned facility records the follow-up, unless it was settled already."""
        if follow_up.status in FOLLOW_UP_OPEN:
            facility_id = follow_up.assigned_facility_id
            actor = self.readers.get(facility_id) or self._staff_of(facility_id)
            followups.complete(self.session, actor, follow_up.id, outcome=outcome, now=when)

    def due(self, when, item: Referral | FollowUp) -> None:
        """The jobs' next run after a deadline, unless the item was dealt with in time."""
        if item.status in ("pending", "scheduled"):
            self.tick(when)

    def tick(self, when) -> None:
        """The scheduler's two frequent jobs, as they would have run at this moment."""
        referrals.expire_stale(self.session, now=when)
        followups.mark_overdue(self.session, now=when)
        self._notified(when)

    def _jitter(self) -> timedelta:
        return timedelta(seconds=self.rng.uniform(1, 300))  # the jobs run every 5 minutes

    def _notified(self, when) -> None:
        """The demo users read what their facility was just sent, a few hours later.

        Called after every step that may notify (a referral moved, or the jobs ran)."""
        if when >= self.now - UNREAD_SINCE:
            return
        new = self.session.execute(sa.select(Notification.id, Notification.facility_id,
                                             Notification.kind).where(
            Notification.created_at == when, Notification.read_at.is_(None),
            Notification.facility_id.in_(self.readers))).all()
        # In a stable order, so the same seed draws the same delays (ids are random).
        new.sort(key=lambda row: (self.facilities[row.facility_id].code, row.kind))
        for notification_id, facility_id, _ in new:
            self.timeline.add(when + timedelta(hours=self.rng.uniform(2, 30)), self.read,
                              self.readers[facility_id], notification_id)

    def read(self, when, reader: User, notification_id) -> None:
        """A demo user marks a notification of their facility read."""
        notifications.mark_read(self.session, reader, notification_id, now=when)


@dataclass
class CaseSummary:
    added: int = 0
    returning: int = 0
    closed: int = 0
    unshared: int = 0  # no consent to share the case: never referred
    months: set = field(default_factory=set)
    story: Counter = field(default_factory=Counter)  # referrals, retries, no_facility, ...


def _times(rng: random.Random, posts: list[User], count: int, now: datetime) -> list:
    """(received at, post) pairs over the last year, in opening hours, more of late."""
    found = []
    for _ in range(count):
        post = rng.choice(posts)
        tz = ZoneInfo(post.facility.timezone or "UTC")
        day = (now - timedelta(days=1 + int(364 * rng.random() ** 1.2))).astimezone(tz).date()
        local = datetime.combine(day, time(rng.randint(7, 18), rng.randint(0, 59)), tzinfo=tz)
        found.append((local.astimezone(UTC), post))
    return sorted(found, key=lambda pair: pair[0])


def add_cases(session: Session, users: list[User], count: int, *, rng: random.Random,
              now: datetime, batch_size: int = 50, between_batches=None) -> CaseSummary:
    """Record `count` intakes at the promoters' posts over the last 12 months, and referrals.

    Some of the people who agree to share their case are referred, and the referral loop
    plays out up to `now`; the last cases, at El Amatillo, are the SCENES (demo_plans)."""
    promoters = [user for user in users if user.role == "promoter"]
    story = Story(session, users, rng=random.Random(rng.getrandbits(64)), now=now,
                  batch_size=batch_size, between_batches=between_batches)
    summary, earlier = CaseSummary(), []

    def take(at: datetime, actor: User, scene) -> None:
        person = None
        if scene is None and earlier and rng.random() < 0.06:
            person = rng.choice(earlier)
        body, person_made = case_body(rng, actor.facility, at, person, scene=scene)
        case, _ = intake.create_case(session, actor, CaseIn().load(body), now=at)
        if person is None:
            earlier.append(person_made._replace(pseudonym=pseudonyms.display(
                case.subject.pseudonym)))
        else:
            summary.returning += 1
        summary.added += 1
        summary.months.add(at.strftime("%Y-%m"))
        own_rng = random.Random(rng.getrandbits(64))  # its story does not shift the others
        if scene is not None:
            story.timeline.add(at + SCENE_DELAY, story.refer, actor, case, scene.plan,
                               own_rng, scene.services, scene.target)
            return
        if not case.consent.referral_sharing:
            summary.unshared += 1
        elif rng.random() < REFERRED:
            plan = draw_plan(own_rng, case.urgency, case.consent.follow_up_contact)
            story.timeline.add(at + timedelta(minutes=rng.uniform(10, 90)), story.refer,
                               actor, case, plan, own_rng)
        if at < now - timedelta(days=30) and rng.random() < 0.5:
            story.timeline.add(at + timedelta(days=rng.uniform(0.5, 10)), story.close, actor,
                               case)

    amatillo = [user for user in promoters if user.facility.code == AMATILLO]
    scenes = SCENES[:count] if amatillo else ()
    for at, actor in _times(rng, promoters, count - len(scenes), now):
        story.timeline.add(at, take, actor, None)
    for scene in scenes:
        story.timeline.add(now - timedelta(hours=scene.hours_ago) - SCENE_DELAY, take,
                           amatillo[0], scene)
    story.run()
    summary.closed, summary.story = story.counts["closed"], story.counts
    return summary


def summarize(session: Session, *, now: datetime, facility_ids) -> dict:
    """Counts for the operator: referrals by state, open follow-ups, unread notifications."""
    by_state = dict(session.execute(sa.select(Referral.status, sa.func.count())
                                    .group_by(Referral.status)).all())
    emergency = session.scalar(sa.select(sa.func.count()).select_from(Referral).where(
        Referral.status == "pending", Referral.urgency == "emergency"))
    when = sa.case((FollowUp.status == "overdue", "overdue"),
                   (FollowUp.due_at <= now + 7 * DAY, "due_soon"), else_="due_later")
    open_ = dict(session.execute(sa.select(when, sa.func.count())
                                 .where(FollowUp.status.in_(FOLLOW_UP_OPEN))
                                 .group_by(when)).all())
    unread = dict(session.execute(
        sa.select(Notification.facility_id, sa.func.count())
        .where(Notification.read_at.is_(None), Notification.facility_id.in_(facility_ids))
        .group_by(Notification.facility_id)).all())
    return {"by_state": by_state, "pending_emergency": emergency, "follow_ups": open_,
            "unread": {facility_id: unread.get(facility_id, 0) for facility_id in facility_ids}}
