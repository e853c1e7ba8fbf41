"""Viewers see counts, not addresses: every panel page a viewer can open shows a subscriber's
address only as its domain and no person's name, while editors and owners see them whole;
the searches that would answer "is this address here?" are refused to viewers."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass

import pytest
from sqlalchemy import update

from app.audience import bounces, imports, suppressions
from app.campaigns import lifecycle
from app.extensions import db
from app.inbound import intake
from app.messages import outbox
from app.models import Delivery, ImportStatus, InboundMessage, MailingList, Report, ReturnKind
from tests.support.factories import make_campaign, make_group, make_list, make_subscriber
from tests.support.imports import run_import
from tests.support.panel import signed_in

OLENA = "olena.secret@partner.example"
TARAS = "taras.hidden@partner.example"
# What must never reach a viewer: the addresses' local parts and the people's names.
SECRETS = ("olena.secret", "Olena Secretname", "taras.hidden", "Taras Hiddenname")


@dataclass
class World:
    list_id: int
    group_id: int
    subscriber_ids: list[int]
    campaign_ids: list[int]
    job_ids: list[int]
    template_id: int
    inbound_id: int


@pytest.fixture()
def world(app) -> World:
    """Two people in a list, a group, a report, a suppression, a paused campaign whose
    deliveries and pause reason quote an address, a draft with a test send, an import, and a
    bounce for Olena whose report and diagnostic quote her address."""
    from app.messages import layouts

    partners = make_list("partners", "Partners")
    group = make_group("Partner Collective", "UA")
    olena = make_subscriber(
        OLENA, lists=[partners], name="Olena Secretname", group=group, country="UA"
    )
    taras = make_subscriber(TARAS, lists=[partners], name="Taras Hiddenname")
    # Pinned to a server nobody answers, and paused: no worker sends it under the test.
    sent = make_campaign({"en": "Week of action"}, lists=[partners], smtp_server="dead")
    lifecycle.start_sending(sent.id)
    lifecycle.pause(sent.id, f"paused: the SMTP server refused by policy: 550 5.7.1 <{OLENA}>")
    db.session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == sent.id)
        .values(smtp_reply=f"550 5.7.1 <{OLENA}>: refused")
    )
    db.session.add(
        Report(campaign_id=sent.id, subscriber_id=taras.id, language="en", title="We marched")
    )
    db.session.commit()
    suppressions.suppress_address(TARAS, f"asked by phone, also for {OLENA}")
    draft = make_campaign({"en": ("Next week", "Hello {{ name }} <{{ email }}>")}, lists=[partners])
    outbox.queue_test_sends(draft, [OLENA], [])
    db.session.commit()
    job = run_import(
        f"email,name\n{OLENA},Olena Secretname\nbad,Taras Hiddenname\n".encode(), partners
    )
    broken = imports.upload(
        io.BytesIO(b"email\nx@example.org\n"), "more.csv", partners.id, "subscribe"
    )
    broken.status, broken.error = ImportStatus.FAILED, f"duplicate key (email)=({OLENA})"
    db.session.commit()
    layout = layouts.save_template("Plain", layouts.default_layout())
    bounce = intake.accept(
        f"Subject: Undelivered\r\n\r\n<{OLENA}>: 550 5.1.1 user unknown\r\n".encode(),
        source="imap",
        envelope_from=f"{TARAS}",
    )
    bounces.record(
        db.session.connection(),
        olena.id,
        ReturnKind.HARD,
        source="imap",
        scoring=bounces.Scoring(),
        status_code="5.1.1",
        diagnostic=f"550 5.1.1 <{OLENA}>: user unknown",
        campaign_id=sent.id,
        inbound_id=bounce.id,
    )
    db.session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == bounce.id)
        .values(status="applied", outcome=f"hard 5.1.1 for {OLENA}: suppressed")
    )
    db.session.commit()
    return World(
        list_id=partners.id,
        group_id=group.id,
        subscriber_ids=[olena.id, taras.id],
        campaign_ids=[sent.id, draft.id],
        job_ids=[job.id, broken.id],
        template_id=layout.id,
        inbound_id=bounce.id,
    )


def every_get_page(app, world: World) -> list[str]:
    """Every GET page of the panel, each id filled with every object of its kind, plus the
    query strings that choose a person (prefix searches, preview as, check an address)."""
    values = {
        "list_id": [world.list_id],
        "subscriber_id": world.subscriber_ids,
        "campaign_id": world.campaign_ids,
        "group_id": [world.group_id],
        "job_id": world.job_ids,
        "template_id": [world.template_id],
        "inbound_id": [world.inbound_id],
        "fmt": ["toml", "yaml"],
        "language": ["en"],
        "kind": ["confirm", "goodbye"],
        "key": ["x"],
    }
    paths = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("panel.") or "GET" not in rule.methods:
            continue
        if rule.endpoint == "panel.login":
            continue
        names = sorted(rule.arguments)
        for combination in itertools.product(*(values[name] for name in names)):
            paths.append(rule.build(dict(zip(names, combination, strict=True)))[1])
    paths += [
        "/subscribers?q=olena",
        "/subscribers?q=olena.secret%40partner.example",
        "/subscribers?by=name&q=Olena",
        "/subscribers?by=name",
        f"/subscribers?list={world.list_id}",
        f"/subscribers?group={world.group_id}",
        f"/suppressions?address={TARAS}",
        f"/suppressions?address={OLENA}",
        f"/bounces?address={OLENA}",
        *(f"/campaigns/{c}/preview/en?email={OLENA}" for c in world.campaign_ids),
    ]
    return paths


def test_a_viewer_sees_no_address_or_name_on_any_panel_page(app, world):
    client = signed_in(app, "viewer")
    pages = every_get_page(app, world)
    assert len(pages) >= 30
    for path in pages:
        response = client.get(path)
        assert response.status_code in (200, 302, 403, 404), path
        body = response.get_data(as_text=True)
        for secret in SECRETS:
            assert secret not in body, (path, secret)


def test_an_editor_sees_them_on_the_same_pages(app, world):
    client = signed_in(app, "editor")
    olena_id, taras_id = world.subscriber_ids
    sent, draft = world.campaign_ids
    expected = {
        "/subscribers": SECRETS,
        f"/subscribers/{olena_id}": ("olena.secret", "Olena Secretname"),
        f"/subscribers/{taras_id}": ("taras.hidden", "Taras Hiddenname"),
        f"/groups/{world.group_id}": ("olena.secret", "Olena Secretname"),
        f"/campaigns/{sent}/reports": ("taras.hidden",),
        f"/campaigns/{sent}": ("olena.secret",),
        f"/campaigns/{sent}/progress.json": ("olena.secret",),
        f"/campaigns/{draft}": ("olena.secret",),
        f"/campaigns/{draft}/preview/en?email={OLENA}": ("olena.secret", "Olena Secretname"),
        f"/suppressions?address={TARAS}": ("taras.hidden", "olena.secret"),
        f"/imports/{world.job_ids[1]}": ("olena.secret",),
        f"/imports/{world.job_ids[1]}/progress": ("olena.secret",),
        "/bounces": ("olena.secret",),
        f"/bounces?address={OLENA}": ("olena.secret",),
        "/inbound": ("olena.secret", "taras.hidden"),
        f"/inbound/{world.inbound_id}": ("olena.secret", "taras.hidden"),
        f"/inbound/{world.inbound_id}/raw.txt": ("olena.secret",),
    }
    for path, secrets in expected.items():
        body = client.get(path).get_data(as_text=True)
        for secret in secrets:
            assert secret in body, (path, secret)


def test_a_viewer_sees_the_domain_and_the_group_name(app, world):
    client = signed_in(app, "viewer")
    olena_id, _ = world.subscriber_ids
    page = client.get(f"/subscribers/{olena_id}").get_data(as_text=True)
    assert "•••@partner.example" in page and "Partner Collective" in page
    assert "Partners" in page  # the lists they are on
    listing = client.get("/subscribers").get_data(as_text=True)
    assert listing.count("•••@partner.example") >= 2
    sent, _ = world.campaign_ids
    assert "•••@partner.example" in client.get(f"/campaigns/{sent}/progress.json").json["reason"]


def test_the_prefix_search_is_refused_to_a_viewer_and_the_counts_still_work(app, world):
    client = signed_in(app, "viewer")
    refused = client.get("/subscribers?q=olena").get_data(as_text=True)
    assert "Searching by address or name is for editors and owners" in refused
    # The prefix is dropped, not answered: the count is the whole audience's.
    assert '<p id="total"><strong>2</strong>' in refused
    assert 'name="q"' not in refused
    assert "<strong>0</strong>" not in client.get("/subscribers?q=zzz").get_data(as_text=True)
    by_group = client.get(f"/subscribers?group={world.group_id}").get_data(as_text=True)
    assert '<p id="total"><strong>1</strong>' in by_group
    by_country = client.get("/subscribers?country=UA").get_data(as_text=True)
    assert '<p id="total"><strong>1</strong>' in by_country
    editor = signed_in(app, "editor")
    found = editor.get("/subscribers?q=olena").get_data(as_text=True)
    assert '<p id="total"><strong>1</strong>' in found and "Olena Secretname" in found


def test_a_viewer_cannot_check_an_address_or_preview_as_someone(app, world):
    client = signed_in(app, "viewer")
    page = client.get(f"/suppressions?address={TARAS}").get_data(as_text=True)
    assert "Checking an address is for editors and owners" in page
    assert 'id="check-result"' not in page and 'id="check"' not in page
    _, draft = world.campaign_ids
    preview = client.get(f"/campaigns/{draft}/preview/en?email={OLENA}").get_data(as_text=True)
    assert "for editors and owners; showing a sample reader" in preview
    assert 'name="email"' not in preview


def test_a_viewer_pages_by_id_so_no_cursor_shows_an_address(app, world):
    from tests.support.factories import make_subscribers

    partners = db.session.get(MailingList, world.list_id)
    make_subscribers(60, lists=[partners], prefix="zz-member")
    client = signed_in(app, "viewer")
    first = client.get("/subscribers").get_data(as_text=True)
    assert 'id="next"' in first
    assert "zz-member" not in first and "after=zz" not in first
    cursor = first.split("after=")[1].split("&")[0].split('"')[0]
    assert cursor.isdigit()
    second = client.get(f"/subscribers?after={cursor}")
    assert second.status_code == 200 and "zz-member" not in second.get_data(as_text=True)
    # An address as a cursor is no way to find where an address falls.
    probe = client.get("/subscribers?after=olena").get_data(as_text=True)
    assert "is not a page cursor" in probe
