"""The Celery app: ``celery -A worker worker`` and ``celery -A worker beat``.

Tasks run inside a Flask app context and are thin: they carry ids and call the domain
packages (``app.delivery`` above all). ``worker`` may import anything in ``app``; nothing in
``app`` imports ``worker``.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Celery, Task
from celery.signals import (
    beat_init,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)

from app import create_app
from app.extensions import db

flask_app = create_app()


class AppTask(Task):
    """A task that runs inside the Flask app context and leaves no session open."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with flask_app.app_context():
            try:
                return self.run(*args, **kwargs)
            finally:
                db.session.remove()


celery = Celery("tocsin", task_cls=AppTask)
celery.conf.update(
    broker_url=flask_app.config["BROKER_URL"],
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # A batch must end before its lease does, and long before the broker would redeliver it.
    task_time_limit=max(5, int(0.8 * int(flask_app.config["LEASE_SECONDS"]))),
    timezone="UTC",
    beat_schedule_filename=f"{flask_app.instance_path}/celerybeat-schedule",
    beat_schedule={
        "dispatch-deliveries": {
            "task": "worker.tasks.dispatch_deliveries",
            "schedule": float(flask_app.config["DISPATCH_INTERVAL"]),
            "options": {"expires": 5 * float(flask_app.config["DISPATCH_INTERVAL"])},
        },
        # Does nothing unless TOCSIN_BOUNCE_MAILBOX is set; a late poll is dropped, not stacked.
        "poll-bounce-mailbox": {
            "task": "worker.tasks.poll_bounce_mailbox",
            "schedule": float(flask_app.config["BOUNCE_MAILBOX_INTERVAL"]),
            "options": {"expires": float(flask_app.config["BOUNCE_MAILBOX_INTERVAL"])},
        },
    },
    include=["worker.tasks"],
)
if not celery.conf.broker_url.startswith("sqla+"):
    # Redis redelivers unacked tasks after this long; keep it far beyond any batch's run.
    # (kombu's SQLAlchemy transport would pass transport options on to create_engine.)
    celery.conf.broker_transport_options = {
        "visibility_timeout": 4 * int(flask_app.config["LEASE_SECONDS"])
    }


@worker_init.connect
@beat_init.connect
def _declare_queue(**_: Any) -> None:
    """Create the default queue before consuming or publishing.

    kombu's SQLAlchemy transport creates a queue row on first use under a per-process lock
    only, so workers and beat starting together on the embedded broker can collide on the
    row's unique name; whoever loses simply finds the row on the next try.
    """
    if not celery.conf.broker_url.startswith("sqla+"):
        return
    from kombu.transport import virtual
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(10):
        try:
            with celery.connection_for_write() as connection:
                channel = connection.default_channel
                assert isinstance(channel, virtual.Channel)  # as every "sqla+" broker's is
                channel.queue_declare(queue=celery.conf.task_default_queue)
            return
        except (IntegrityError, OperationalError):
            time.sleep(0.1 * (attempt + 1))


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked child must not share the parent's database connections."""
    with flask_app.app_context():
        db.engine.dispose(close=False)


@worker_shutdown.connect  # solo pool: the worker's own process
@worker_process_shutdown.connect  # prefork pool: each child
def _close_smtp(**_: Any) -> None:
    """Say QUIT to the SMTP servers when a worker ends cleanly."""
    from app.delivery.smtp import close_all

    close_all()
