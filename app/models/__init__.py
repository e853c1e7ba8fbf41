"""Typed SQLAlchemy models: columns, relationships and small invariants, no workflows.

May import ``app.extensions``, ``app.languages`` and ``app.models.base``; nothing that
works on the rows (every other package imports these).
"""

from app.models.accounts import User, UserRole, UserSession
from app.models.audience import (
    BlockedDomain,
    Group,
    ImportJob,
    ImportMode,
    ImportStatus,
    LinkRequest,
    ListVisibility,
    ListWording,
    MailingList,
    OptIn,
    SignupRequest,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    list_names,
)
from app.models.campaigns import (
    OPEN_DELIVERY_STATES,
    BodyFormat,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    ReturnedAs,
    SystemEmail,
    Template,
    ThrottleCounter,
    Variant,
    campaign_lists,
)
from app.models.inbound import (
    BounceScore,
    InboundMessage,
    InboundStatus,
    ReturnEvent,
    ReturnKind,
)
from app.models.outbox import OutboxKind, OutboxMessage, OutboxStatus
from app.models.reports import Report, ReportStatus
from app.models.settings import InstanceSetting

__all__ = [
    "ListWording",
    "list_names",
    "BlockedDomain",
    "BounceScore",
    "InboundMessage",
    "InboundStatus",
    "ReturnEvent",
    "ReturnKind",
    "ImportJob",
    "InstanceSetting",
    "ImportMode",
    "ImportStatus",
    "OPEN_DELIVERY_STATES",
    "BodyFormat",
    "Campaign",
    "CampaignStatus",
    "Delivery",
    "DeliveryStatus",
    "Group",
    "LinkRequest",
    "ListVisibility",
    "MailingList",
    "OptIn",
    "OutboxKind",
    "OutboxMessage",
    "OutboxStatus",
    "Report",
    "ReturnedAs",
    "ReportStatus",
    "SignupRequest",
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
    "UserSession",
    "Variant",
    "campaign_lists",
]
