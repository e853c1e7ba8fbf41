"""The operator CLI: a Flask CLI group, so ``tocsin run`` is the web server alone.

Commands are thin over the same services the panel uses; bad arguments and domain errors
exit non-zero with a one-line reason.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from flask import Flask

from app.errors import TocsinError

if TYPE_CHECKING:
    from app.campaigns.send_plans import SendPlan


def one_line(exc: TocsinError) -> str:
    """A domain error as one line, led by the field it names: ``name: a campaign needs a
    name``."""
    field = getattr(exc, "field", None)
    return f"{field}: {exc}" if field else str(exc)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into a one-line message and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TocsinError as exc:
            raise click.ClickException(one_line(exc)) from None

    return wrapper


def _emit(data: Any, as_json: bool, lines: Callable[[Any], list[str]]) -> None:
    click.echo(
        json.dumps(data, indent=2, ensure_ascii=False) if as_json else "\n".join(lines(data))
    )


@click.group("users")
def users() -> None:
    """Organiser accounts."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["owner", "editor", "viewer"]), default="editor")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@reports_errors
def users_create(email: str, role: str, password_stdin: bool) -> None:
    """Create an organiser account."""
    from app.accounts import users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = users.create_user(email, password, role)
    click.echo(f"created {user.role.value} {user.email}")


@users.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(["owner", "editor", "viewer"]))
@reports_errors
def users_role(email: str, role: str) -> None:
    """Change an account's role; its sessions end."""
    from app.accounts import users

    user = users.set_role(email, role)
    click.echo(f"{user.email} is now {user.role.value}; its sessions have ended")


@users.command("deactivate")
@click.argument("email")
@reports_errors
def users_deactivate(email: str) -> None:
    """Stop an account from logging in; its sessions end."""
    from app.accounts import users

    user = users.set_active(email, False)
    click.echo(f"deactivated {user.email}; its sessions have ended")


@users.command("activate")
@click.argument("email")
@reports_errors
def users_activate(email: str) -> None:
    """Let a deactivated account log in again."""
    from app.accounts import users

    user = users.set_active(email, True)
    click.echo(f"activated {user.email}")


@users.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@reports_errors
def users_password(email: str, password_stdin: bool) -> None:
    """Set an account's password; its sessions end."""
    from app.accounts import users

    users.user_named(email)  # before asking for a password
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    user = users.set_password(email, password)
    click.echo(f"password of {user.email} set; its sessions have ended")


@users.command("unlock")
@click.argument("email")
@reports_errors
def users_unlock(email: str) -> None:
    """Forget an account's failed logins, so its owner can log in before the lockout ends."""
    from app.accounts import logins

    logins.unlock(email)
    click.echo(f"failed logins of {email} forgotten")


@click.group("lists")
def lists_group() -> None:
    """Mailing lists."""


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--visibility", type=click.Choice(["private", "public"]), default="private")
@click.option("--optin", type=click.Choice(["double", "single"]), default="double")
@click.option("--language", default="en", help="Default language of the list.")
@reports_errors
def lists_create(slug: str, name: str, visibility: str, optin: str, language: str) -> None:
    """Create a list."""
    from app.audience import lists

    created = lists.create_list(
        slug, name, visibility=visibility, optin=optin, default_language=language
    )
    click.echo(f"created list {created.slug} (id {created.id})")


@click.group("subscribers")
def subscribers_group() -> None:
    """Subscribers."""


@subscribers_group.command("add")
@click.argument("email")
@click.option("--list", "list_slugs", multiple=True, required=True, help="List slug (repeatable).")
@click.option("--language", required=True, help="BCP 47 tag, e.g. uk or pt-BR.")
@click.option("--name", default="")
@reports_errors
def subscribers_add(email: str, list_slugs: tuple[str, ...], language: str, name: str) -> None:
    """Add a subscriber, confirmed, to one or more lists."""
    from app.audience import lists, subscribers

    targets = [lists.get_by_slug(slug) for slug in list_slugs]
    subscriber = subscribers.add_subscriber(email, lists=targets, language=language, name=name)
    click.echo(f"subscribed {subscriber.email} to {', '.join(list_slugs)}")


@subscribers_group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def subscribers_show(email: str, as_json: bool) -> None:
    """Show a subscriber, the status of each subscription, and what came back for them."""
    from app.audience import bounce_log, subscribers

    data = subscribers.describe(email)
    data.update(bounce_log.describe_returns(data["id"]))
    _emit(
        data,
        as_json,
        lambda d: [
            f"{d['email']} ({d['language']}) {d['status']}, bounce score {d['bounce_score']}",
            *(f"  {s['list']}: {s['status']}" for s in d["subscriptions"]),
            *(
                f"  {r['at']} {r['kind']} {r['status_code']} {r['diagnostic']}".rstrip()
                for r in d["returns"]
            ),
        ],
    )


IMPORT_MODES = ["subscribe", "opt_in", "update", "blocklist"]


@subscribers_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--list", "list_slug", default="", help="List slug (needed to subscribe).")
@click.option("--mode", type=click.Choice(IMPORT_MODES), default="subscribe", show_default=True)
@click.option("--map", "maps", multiple=True, help="COLUMN=FIELD (repeatable); default: by name.")
@reports_errors
def subscribers_import(path: str, list_slug: str, mode: str, maps: tuple[str, ...]) -> None:
    """Import subscribers from a CSV file, here and now, with a progress line."""
    from app.audience import imports, lists

    list_id = lists.get_by_slug(list_slug).id if list_slug else None
    with open(path, "rb") as source:
        job = imports.upload(source, path, list_id, mode)
    mapping = imports.preview(job.id).guessed | _parse_maps(maps)
    imports.start(job.id, mapping, here=True)
    done = imports.run(job.id, _show_progress)
    click.echo("", err=True)
    report = imports.progress_of(done)
    click.echo(
        "imported {imported}, updated {updated}, unchanged {skipped}, rejected {rejected} "
        "of {processed} rows".format(**report)
    )
    if done.rejected or done.processed_rows > done.imported + done.updated + done.skipped:
        click.echo(f"report: {imports.report_path(done)}")


def _parse_maps(maps: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for item in maps:
        column, equals, field = item.rpartition("=")
        if not equals or not column:
            raise click.BadParameter(f"{item!r} is not COLUMN=FIELD", param_hint="--map")
        mapping[column] = field
    return mapping


def _show_progress(job: Any) -> None:
    click.echo(f"\r{job.processed_rows} of about {job.total_rows} rows", nl=False, err=True)


@subscribers_group.command("export")
@click.option("--list", "list_slug", default="", help="Only subscribers of this list.")
@click.option("--language", default="", help="Only this language (BCP 47 tag).")
@click.option("--status", default="", help="Only this status (active, blocklisted, ...).")
@reports_errors
def subscribers_export(list_slug: str, language: str, status: str) -> None:
    """Write subscribers as CSV to standard output (cells that look like formulas are
    neutralised with a leading ')."""
    from app.audience import exports

    chosen = exports.check_filter(list_slug, language, status)
    for piece in exports.stream(chosen, by=_system_user(), via="command line"):
        click.echo(piece, nl=False)


def _system_user() -> str:
    """Who runs this command, for the audit log: the system account's name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


@click.group("campaigns")
def campaigns_group() -> None:
    """Campaigns."""


@campaigns_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def campaigns_list(as_json: bool) -> None:
    """List campaigns, newest first."""
    from app.campaigns import drafts

    data = [
        {
            "id": c.id,
            "name": c.name,
            "status": c.status.value,
            "languages": [v.language for v in c.variants],
        }
        for c in drafts.all_campaigns()
    ]
    _emit(
        data,
        as_json,
        lambda rows: [
            f"{r['id']:>5}  {r['status']:<10} {r['name']}  [{' '.join(r['languages'])}]"
            for r in rows
        ],
    )


NOT_READY = click.option(
    "--not-ready",
    type=click.Choice(["hold", "fallback"]),
    default=None,
    help="Recipients whose own variant is not ready: hold them back, or send the fallback.",
)


@campaigns_group.command("send")
@click.argument("campaign_id", type=int)
@NOT_READY
@click.option("--yes", is_flag=True, help="Send without asking (the summary is still printed).")
@reports_errors
def campaigns_send(campaign_id: int, not_ready: str | None, yes: bool) -> None:
    """Show who gets what, ask, and start sending a campaign now."""
    from app.campaigns import send_plans

    plan = send_plans.summarise(campaign_id, not_ready)
    click.echo("\n".join(_plan_lines(plan)))
    if not yes and not click.confirm(f"Send to {plan.to_send} recipients now?"):
        click.echo("nothing was sent")
        sys.exit(1)
    count = send_plans.confirm_send(campaign_id, not_ready, plan.token)
    click.echo(f"campaign {campaign_id} is sending to {count} recipients")


def _plan_lines(plan: SendPlan) -> list[str]:
    """The confirmation summary as lines: languages, lists, sender, servers, total."""
    lines = [f"campaign {plan.campaign_id}: {plan.name}"]
    for row in plan.rows:
        if row.held:
            gets = f"nothing (held back: the {row.intended} variant is not ready)"
        else:
            gets = f"{row.gets}{' (fallback)' if row.falls_back else ''}"
        lines.append(f"  {row.language:8} {row.recipients:>8}  get {gets}")
    held = f" ({plan.held} of {plan.total} held back)" if plan.held else ""
    return [
        *lines,
        f"lists: {', '.join(plan.lists)}",
        f"from: {plan.sender}",
        f"SMTP server: {', then '.join(plan.servers)}",
        f"total: {plan.to_send} messages{held}",
    ]


@campaigns_group.command("languages")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def campaigns_languages(campaign_id: int, as_json: bool) -> None:
    """Show, per recipient language, how many get which variant and who waits for one."""
    from app.campaigns import drafts, readiness

    plan = readiness.language_plan(drafts.get(campaign_id))
    rows = [
        {
            "language": row.language,
            "recipients": row.recipients,
            "gets": row.gets,
            "falls_back": row.falls_back,
            "waits_for": row.intended if row.waits_for_variant else None,
        }
        for row in plan
    ]

    def lines(rows: list[dict[str, Any]]) -> list[str]:
        return [
            f"{r['language']:8} {r['recipients']:>8}  gets {r['gets'] or 'nothing'}"
            + (" (fallback)" if r["falls_back"] else "")
            + (f"; its {r['waits_for']} variant is not ready" if r["waits_for"] else "")
            for r in rows
        ]

    _emit(rows, as_json, lines)


@campaigns_group.command("schedule")
@click.argument("campaign_id", type=int)
@click.argument("when", type=click.DateTime(["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]))
@click.option("--tz", "timezone", default="UTC", show_default=True, help="IANA time zone.")
@NOT_READY
@reports_errors
def campaigns_schedule(campaign_id: int, when: Any, timezone: str, not_ready: str | None) -> None:
    """Schedule a campaign to start at WHEN ('2027-03-28 09:00') in a time zone."""
    from app.campaigns import lifecycle

    start = lifecycle.schedule(campaign_id, when, timezone, not_ready)
    click.echo(f"campaign {campaign_id} starts at {start:%Y-%m-%d %H:%M} UTC")


@campaigns_group.command("duplicate")
@click.argument("campaign_id", type=int)
@reports_errors
def campaigns_duplicate(campaign_id: int) -> None:
    """Copy a campaign into a new draft with every variant; print the draft's id."""
    from app.campaigns import copies

    click.echo(copies.duplicate(campaign_id).id)


@campaigns_group.command("export")
@click.argument("campaign_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["toml", "yaml"]), default="toml")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
@reports_errors
def campaigns_export(campaign_id: int, fmt: str, output: Any) -> None:
    """Write a campaign with all its variants as one TOML or YAML file."""
    from app.campaigns import campaign_files, drafts

    output.write(campaign_files.export(drafts.get(campaign_id), fmt))


@campaigns_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["toml", "yaml"]),
    default=None,
    help="Default: from the file name (.toml, .yaml, .yml).",
)
@reports_errors
def campaigns_import(path: str, fmt: str | None) -> None:
    """Create a draft campaign from a TOML or YAML campaign file."""
    from app.campaigns import campaign_files

    suffix = path.rsplit(".", 1)[-1].lower()
    fmt = fmt or {"yml": "yaml"}.get(suffix, suffix)
    with open(path, "rb") as handle:
        data = handle.read(campaign_files.MAX_FILE_BYTES + 1)
    try:
        campaign = campaign_files.import_file(data, fmt)
    except TocsinError as exc:
        raise click.ClickException(f"{path}: {one_line(exc)}") from None
    click.echo(f"campaign {campaign.id} created as a draft: {campaign.name}")


def _campaign_action(name: str, doc: str) -> None:
    """Register ``tocsin campaigns NAME ID`` over the service function of the same name."""

    @campaigns_group.command(name, help=doc)
    @click.argument("campaign_id", type=int)
    @reports_errors
    def command(campaign_id: int) -> None:
        from app.campaigns import drafts, lifecycle

        getattr(lifecycle, name)(campaign_id)
        click.echo(f"campaign {campaign_id}: {drafts.get(campaign_id).status.value}")


_campaign_action("pause", "Pause a sending campaign; rows in flight finish, the rest wait.")
_campaign_action("resume", "Resume a paused campaign.")
_campaign_action("cancel", "Cancel a campaign; rows not yet sent are skipped.")
_campaign_action("unschedule", "Take a scheduled campaign back to draft.")


@campaigns_group.command("resend")
@click.argument("campaign_id", type=int)
@click.option(
    "--only",
    type=click.Choice(["failed", "unknown"]),
    default=None,
    help="Only failed rows, or only rows whose fate is unknown (default: both).",
)
@reports_errors
def campaigns_resend(campaign_id: int, only: str | None) -> None:
    """Send a finished campaign again to its failed and unknown deliveries."""
    from app.campaigns import lifecycle
    from app.models import DeliveryStatus

    statuses = {"failed": (DeliveryStatus.FAILED_PERM,), "unknown": (DeliveryStatus.UNKNOWN,)}
    count = lifecycle.resend(campaign_id, statuses.get(only or "", lifecycle.RESENDABLE))
    click.echo(f"campaign {campaign_id} is sending again to {count} recipients")


@campaigns_group.command("status")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def campaigns_status(campaign_id: int, as_json: bool) -> None:
    """Show a campaign's status and its deliveries counted by status."""
    from app.campaigns import results

    _emit(
        results.progress(campaign_id),
        as_json,
        lambda p: [
            f"{p['name']}: {p['status']} ({p['total']} recipients, {p['remaining']} remaining)",
            *([f"  {p['reason']}"] if p["reason"] else []),
            *(f"  {status}: {n}" for status, n in p["counts"].items() if n),
            *(
                [f"  rate: {p['rate_per_second']}/s, about {p['eta_seconds']} s left"]
                if p["rate_per_second"]
                else []
            ),
        ],
    )


@click.command("demo")
@click.option("--subscribers", "count", type=click.IntRange(0, 100_000), default=200)
@reports_errors
def demo(count: int) -> None:
    """Load the demo: partner groups, lists, subscribers and the call-for-action campaign."""
    from app import demo as demo_service

    summary = demo_service.load(count)
    click.echo(summary)


@click.command("catcher")
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=click.IntRange(1, 65535), default=8025)
@click.option("--maildir", type=click.Path(file_okay=False), default=None)
def catcher(host: str, port: int, maildir: str | None) -> None:
    """Run the development SMTP catcher, storing every message in a Maildir."""
    from flask import current_app

    from app.catcher import serve_forever

    folder = maildir or current_app.config["CATCHER_MAILDIR"]
    click.echo(f"catching mail on smtp://{host}:{port}, stored in {folder}")
    serve_forever(host, port, folder)


def register(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    from app.cli_inbound import inbound_group
    from app.launcher import up

    commands = (users, lists_group, subscribers_group, campaigns_group, demo, catcher, up)
    for command in (*commands, inbound_group):
        app.cli.add_command(command)
