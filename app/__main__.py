"""The ``tocsin`` command (and ``python -m app``): the operator CLI of ``app.cli`` over the
application that ``create_app`` builds."""

import sys

import click
from flask.cli import FlaskGroup

from app import create_app


def main() -> None:
    """Entry point of the ``tocsin`` console script."""
    group = FlaskGroup(create_app=create_app, add_version_option=False, load_dotenv=False)
    try:
        group.main(prog_name="tocsin", standalone_mode=False)
    except click.ClickException as exc:
        # One line, not Click's usage block: bad arguments read like any other refusal.
        click.echo(f"tocsin: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("tocsin: aborted", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
