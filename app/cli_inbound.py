"""``tocsin inbound``: the return path's commands for operators."""

from __future__ import annotations

import click
from flask import current_app


@click.group("inbound")
def inbound_group() -> None:
    """Bounces, complaints and mailto unsubscribes coming back."""


@inbound_group.command("serve")
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=2525)
def inbound_serve(host: str, port: int) -> None:
    """Receive bounce, complaint and unsubscribe mail from the MTA over SMTP or LMTP."""
    from app.inbound.receiver import serve_forever
    from app.inbound.routes import bounce_domain

    domain = bounce_domain(current_app.config)
    click.echo(
        f"receiving mail for bounces+*@{domain}, unsubscribe@{domain} and abuse@{domain} "
        f"on smtp/lmtp://{host}:{port}"
    )
    serve_forever(current_app._get_current_object(), host, port)  # type: ignore[attr-defined]
