"""The `flask` commands of API.md, one module per group."""

import click


def fail(message: str):
    """Exit non-zero with a one-line message (API.md: command line)."""
    raise click.ClickException(message)


def register(app) -> None:
    from referral.cli import audit, demo, facilities, jobs, keys, stats, synthetic, users

    for module in (keys, users, facilities, audit, stats):
        app.cli.add_command(module.group)
    for group in jobs.groups:
        app.cli.add_command(group)
    app.cli.add_command(demo.command)
    app.cli.add_command(synthetic.command)
