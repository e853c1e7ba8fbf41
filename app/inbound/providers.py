"""Provider webhook bodies into ``Finding``s (placeholder: filled in with the webhooks)."""

from __future__ import annotations

from app.inbound.findings import Finding


def read_event(source: str, body: bytes) -> list[Finding]:
    return []
