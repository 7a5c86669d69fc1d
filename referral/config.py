"""Configuration defaults (no secrets) and the validation that fails fast."""

import os
from pathlib import Path

PREFIX = "REFERRAL_"

# Names read from the environment, with how to parse them.
ENV_SETTINGS = {
    "DATABASE_URL": str,
    "SECRET_KEY": str,
    "KEYRING": str,
    "SUPPRESSION_K": int,
    "TOKEN_TTL": int,
    "SHARE_DAYS": int,
    "RUN_SCHEDULER": lambda v: v.lower() in {"1", "true", "yes", "on"},
    "LOGIN_MAX_FAILURES_PER_USER": int,
    "LOGIN_MAX_FAILURES_PER_ADDRESS": int,
    "LOGIN_WINDOW_SECONDS": int,
    "TRUSTED_PROXIES": int,
    "RETENTION_DAYS": int,
    "NOTIFICATION_DAYS": int,
}


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to fix it."""


def defaults(instance_path: str) -> dict:
    """Settings used unless the environment, instance/config.py or the caller say otherwise."""
    return {
        "DATABASE_URL": "sqlite:///" + str(Path(instance_path) / "referral.sqlite3"),
        "SECRET_KEY": None,
        "KEYRING": str(Path(instance_path) / "keyring.json"),
        "SUPPRESSION_K": 5,
        "TOKEN_TTL": 12 * 3600,
        "SHARE_DAYS": 30,
        "RUN_SCHEDULER": False,
        "LOGIN_MAX_FAILURES_PER_USER": 5,
        "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
        "LOGIN_WINDOW_SECONDS": 15 * 60,
        "TRUSTED_PROXIES": 0,
        # Retention (the daily purge job): people idle this long are crypto-shredded.
        "RETENTION_DAYS": 5 * 365,
        "NOTIFICATION_DAYS": 90,  # read notifications are deleted after this many days
        "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
        "SYNC_MAX_ITEMS": 500,
        # argon2id parameters (RFC 9106 second recommended option); tests lower them.
        "ARGON2_TIME_COST": 3,
        "ARGON2_MEMORY_COST": 64 * 1024,
        "ARGON2_PARALLELISM": 4,
    }


def from_environment(environ=None) -> dict:
    """Read every REFERRAL_* setting present in the environment."""
    environ = os.environ if environ is None else environ
    found = {}
    for name, parse in ENV_SETTINGS.items():
        raw = environ.get(PREFIX + name)
        if raw is None or raw == "":
            continue
        try:
            found[name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}{name} is not valid: {raw!r}") from exc
    return found


def validate(config, require_secret_key: bool = True) -> None:
    """Refuse settings that would make the service unsafe or unusable."""
    if require_secret_key and not config.get("SECRET_KEY"):
        raise ConfigError(
            "REFERRAL_SECRET_KEY is not set: set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
            "or put SECRET_KEY in instance/config.py"
        )
    if config["SUPPRESSION_K"] < 2:
        raise ConfigError("REFERRAL_SUPPRESSION_K must be at least 2")
    if config["TOKEN_TTL"] < 60:
        raise ConfigError("REFERRAL_TOKEN_TTL must be at least 60 seconds")
    if config["SHARE_DAYS"] < 0:
        raise ConfigError("REFERRAL_SHARE_DAYS must not be negative")
    if config["RETENTION_DAYS"] < 30:
        raise ConfigError("REFERRAL_RETENTION_DAYS must be at least 30 (days of inactivity "
                          "after which a person's data is erased)")
    if config["NOTIFICATION_DAYS"] < 1:
        raise ConfigError("REFERRAL_NOTIFICATION_DAYS must be at least 1")
    url = config["DATABASE_URL"]
    if not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise ConfigError("REFERRAL_DATABASE_URL must be a sqlite:// or postgresql:// URL")
