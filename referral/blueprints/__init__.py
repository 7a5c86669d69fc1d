"""Blueprint registration: the API under /api/v1, health and the web pages outside it."""

from referral import extensions


def register_blueprints(app) -> None:
    from referral.blueprints import auth, health, web
    from referral.blueprints.api import (
        audit,
        cases,
        facilities,
        followups,
        notifications,
        options,
        referrals,
        slips,
        stats,
        subjects,
        sync,
    )

    app.register_blueprint(health.bp)
    app.register_blueprint(web.bp)
    rest = extensions.api
    for module in (auth, facilities, cases, options, referrals, slips, followups,
                   notifications, subjects, sync, stats, audit):
        rest.register_blueprint(module.blp)
    rest.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    rest.spec.options["security"] = [{"bearerAuth": []}]
