"""Facts about this installation that the database itself must remember."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model


class InstanceSetting(Model):
    """One named value, e.g. the fingerprint of the key the keyed hashes were made with."""

    __tablename__ = "instance_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
