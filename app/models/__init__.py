"""Typed SQLAlchemy models: columns, relationships and small invariants, no workflows."""

from app.models.accounts import User, UserRole
from app.models.audience import (
    Group,
    ListVisibility,
    MailingList,
    OptIn,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from app.models.campaigns import (
    OPEN_DELIVERY_STATES,
    BodyFormat,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    SystemEmail,
    Template,
    ThrottleCounter,
    Variant,
    campaign_lists,
)
from app.models.outbox import OutboxKind, OutboxMessage, OutboxStatus
from app.models.reports import Report, ReportStatus

__all__ = [
    "OPEN_DELIVERY_STATES",
    "BodyFormat",
    "Campaign",
    "CampaignStatus",
    "Delivery",
    "DeliveryStatus",
    "Group",
    "ListVisibility",
    "MailingList",
    "OptIn",
    "OutboxKind",
    "OutboxMessage",
    "OutboxStatus",
    "Report",
    "ReportStatus",
    "Subscriber",
    "SubscriberStatus",
    "Subscription",
    "SubscriptionStatus",
    "Suppression",
    "SuppressionReason",
    "SystemEmail",
    "Template",
    "ThrottleCounter",
    "User",
    "UserRole",
    "Variant",
    "campaign_lists",
]
