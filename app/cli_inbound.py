"""``tocsin inbound``: the return path's commands (``serve``: the receiver; ``poll``: the
bounce mailbox, now).

``app.cli`` registers this group; nothing here imports ``app.cli`` back, so domain errors
are turned into one-line messages here.
"""

from __future__ import annotations

import click
from flask import current_app

from app.errors import TocsinError


@click.group("inbound")
def inbound_group() -> None:
    """Bounces, complaints and mailto unsubscribes coming back."""


@inbound_group.command("serve")
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=2525)
def inbound_serve(host: str, port: int) -> None:
    """Receive bounce, complaint and unsubscribe mail from the MTA over SMTP or LMTP."""
    from app.addresses import bounce_domain
    from app.inbound.receiver import serve_forever

    domain = bounce_domain(current_app.config)
    click.echo(
        f"receiving mail for bounces+*@{domain}, unsubscribe@{domain} and abuse@{domain} "
        f"on smtp/lmtp://{host}:{port}"
    )
    serve_forever(current_app._get_current_object(), host, port)  # type: ignore[attr-defined]


@inbound_group.command("poll")
@click.option("--limit", type=click.IntRange(1, 100_000), default=500, show_default=True)
def inbound_poll(limit: int) -> None:
    """Fetch what the bounce mailbox (TOCSIN_BOUNCE_MAILBOX) holds, once, and store it."""
    from app.inbound import mailboxes

    url = mailboxes.configured()
    if not url:
        raise click.ClickException("TOCSIN_BOUNCE_MAILBOX is not set: there is no mailbox to poll")
    try:
        result = mailboxes.poll(url, limit)
    except TocsinError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"fetched {result.fetched}, stored {result.stored}, "
        f"already stored {result.duplicates}, refused {result.refused}"
    )
