"""Sending a claimed batch in this process, under changed settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from app.delivery import ledger
from app.delivery.sending import BatchSender
from app.extensions import db
from app.models import Campaign


@contextmanager
def settings(app, **values: object) -> Iterator[None]:
    saved = {key: app.config.get(key) for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)


def send_everything(campaign: Campaign, claimed: list[ledger.Claimed]) -> None:
    campaign = db.session.get(Campaign, campaign.id)
    BatchSender(campaign, current_app.config).run(claimed)
