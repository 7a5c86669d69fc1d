"""referral: health referral and case tracking for migrants at border points."""

import os
from pathlib import Path

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from referral import config as settings
from referral.config import ConfigError

__all__ = ["ConfigError", "create_app"]


def create_app(config: dict | None = None) -> Flask:
    """Build the application: configure, validate, bind extensions, register routes."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get(
        "REFERRAL_INSTANCE_PATH", str(Path.cwd() / "instance")
    )
    # No app-wide /static: the web blueprint serves its own files there.
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True,
                static_folder=None)
    app.config.update(settings.defaults(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(settings.from_environment())
    app.config.update(config or {})
    _derive_settings(app)
    # Only a server signs sessions; `flask demo` writes the demo's key before it serves.
    settings.validate(app.config, require_secret_key=_serving())

    from referral import cli, database, i18n
    from referral.blueprints import register_blueprints
    from referral.errors import register_error_handlers
    from referral.extensions import api, babel, csrf, db, login_manager, migrate

    app.config["SQLALCHEMY_DATABASE_URI"] = database.normalize_url(app.config["DATABASE_URL"])
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", database.engine_options(app.config["DATABASE_URL"])
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent.parent / "migrations"),
                     render_item=database.render_item, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale,
                   timezone_selector=i18n.select_timezone)
    api.init_app(app)
    register_blueprints(app)
    register_error_handlers(app)  # after the Api's, so ours answer every error
    cli.register(app)
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"])

    if _serving():
        _require_keyring(app)
    return app


def _derive_settings(app: Flask) -> None:
    app.config.update(
        API_TITLE="referral",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not app.config.get("TESTING", False)
        and not app.config.get("DEMO", False),
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=app.config["TOKEN_TTL"],
        # Set the cookie only when the session changes. Refreshing it on every answer let a
        # slow one (a script the service worker fetched with the cookie of a moment ago)
        # put back an older session, and the page's CSRF token stopped matching.
        SESSION_REFRESH_EACH_REQUEST=False,
        # Checked by the web blueprint and for cookie-authenticated API calls only: a
        # bearer-token client has no cookie for a forged request to ride on.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # a tablet keeps a form open for hours; the session ends it
        WTF_CSRF_SSL_STRICT=True,
        BABEL_DEFAULT_LOCALE="es",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        JSON_SORT_KEYS=False,
    )


def _serving() -> bool:
    """True unless a `flask` command other than `run` is loading the app.

    Maintenance commands (`keys init`, `db upgrade`, ...) must work before a key ring
    exists; a server, under gunicorn or `flask run`, must not start without one.
    """
    ctx = click.get_current_context(silent=True)
    return ctx is None or ctx.info_name == "run"


def _require_keyring(app: Flask) -> None:
    from referral.services import crypto

    try:
        with app.app_context():
            crypto.keyring()
    except crypto.KeyringError as exc:
        raise ConfigError(f"refusing to start: {exc}") from exc
