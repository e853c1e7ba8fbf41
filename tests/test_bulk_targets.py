"""Bulk actions act on the target chosen, never on the filter's values: every action x
{checked rows, the whole filter} x {no filter, a list, a language, both}, posted as the page
builds its form (its fields read from the HTML, the choices made as an organiser makes them,
the confirmation page's own form posted back), with the whole database compared after.

The filter travels as ``filter-…`` fields and the target as ``action-…`` ones: the bug this
guards against had one ``list`` field for both, and "remove from Supporters" on a page
filtered by Partner collectives removed people from Partner collectives.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.audience import bulk, subscribers
from app.audience.bulk import BulkAction, BulkTarget, Selection
from app.audience.filters import SubscriberFilter
from app.extensions import db
from app.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from tests.support.factories import make_list, make_subscriber, make_subscribers
from tests.support.panel import Client, flashed, text

PARTNERS, SUPPORTERS, PRESS = "Partner collectives", "Supporters", "Press contacts"


# --- The page's forms, read and submitted as a browser does ---------------------------------


@dataclass
class HtmlForm:
    attrs: dict[str, str]
    controls: list[tuple[str, dict[str, str], list[tuple[str, str, bool]]]] = field(
        default_factory=list
    )
    buttons: list[dict[str, str]] = field(default_factory=list)


class _Forms(HTMLParser):
    """Every <form> of a page with its controls, in order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[HtmlForm] = []
        self._form: HtmlForm | None = None
        self._select: tuple[dict[str, str], list[tuple[str, str, bool]]] | None = None
        self._option: dict[str, str] | None = None
        self._label = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = HtmlForm(found)
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            self._form.controls.append(("input", found, []))
        elif tag == "button":
            self._form.buttons.append(found)
        elif tag == "select":
            self._select = (found, [])
        elif tag == "option" and self._select is not None:
            self._option, self._label = found, ""

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._label += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._select is not None and self._option is not None:
            label = " ".join(self._label.split())
            value = self._option.get("value", label)
            self._select[1].append((value, label, "selected" in self._option))
            self._option = None
        elif tag == "select" and self._select is not None and self._form is not None:
            self._form.controls.append(("select", *self._select))
            self._select = None
        elif tag == "form":
            self._form = None


def form_of(html: str, *, form_id: str = "", button_id: str = "") -> HtmlForm:
    """The form with this id, or the one holding the button with this id."""
    for form in _Forms(html).forms:
        if form_id and form.attrs.get("id") == form_id:
            return form
        if button_id and any(b.get("id") == button_id for b in form.buttons):
            return form
    raise AssertionError(f"no form {form_id or button_id!r} on the page")


def submitted(
    form: HtmlForm,
    *,
    check: dict[str, set[str]] | None = None,
    radio: dict[str, str] | None = None,
    choose: dict[str, str] | None = None,
    fill: dict[str, str] | None = None,
) -> MultiDict[str, str]:
    """What the browser posts: hidden fields as they are, the checkboxes and radio buttons
    ticked, each select's chosen option (by its label; else the selected or first one), each
    text field as typed. Choosing an option the page does not offer fails the test."""
    check, radio, choose, fill = check or {}, radio or {}, choose or {}, fill or {}
    pairs: list[tuple[str, str]] = []
    offered_boxes: dict[str, set[str]] = {}
    for kind, attrs, options in form.controls:
        name = attrs.get("name")
        if not name:
            continue
        if kind == "select":
            if name in choose:
                values = [v for v, label, _ in options if label == choose[name]]
                assert values, f"{name}: no option {choose[name]!r} in {options}"
                pairs.append((name, values[0]))
            else:
                chosen = [v for v, _, selected in options if selected] or [options[0][0]]
                pairs.append((name, chosen[0]))
            continue
        kind = attrs.get("type", "text")
        value = attrs.get("value", "on" if kind in ("checkbox", "radio") else "")
        if kind == "hidden":
            pairs.append((name, value))
        elif kind == "checkbox":
            offered_boxes.setdefault(name, set()).add(value)
            if value in check.get(name, set()) or (name not in check and "checked" in attrs):
                pairs.append((name, value))
        elif kind == "radio":
            if radio.get(name, value if "checked" in attrs else None) == value:
                pairs.append((name, value))
        elif kind not in ("submit", "button", "reset", "file"):
            pairs.append((name, fill.get(name, value)))
    for name, wanted in check.items():
        assert wanted <= offered_boxes.get(name, set()), f"{name}: {wanted} not on the page"
    return MultiDict(pairs)


# --- The audience and what the database holds ------------------------------------------------

# address -> (language, {list: status}); "-" marks a subscription the subscriber left.
PEOPLE = {
    "uk1@example.org": ("uk", {PARTNERS: "+", SUPPORTERS: "+"}),
    "uk2@example.org": ("uk", {PARTNERS: "+", SUPPORTERS: "+"}),
    "uk3@example.org": ("uk", {PARTNERS: "+"}),
    "uk4@example.org": ("uk", {SUPPORTERS: "+"}),
    "uk5@example.org": ("uk", {PARTNERS: "+", SUPPORTERS: "+", PRESS: "+"}),
    "ukua@example.org": ("uk-UA", {PARTNERS: "+"}),
    "left@example.org": ("uk", {PARTNERS: "+", SUPPORTERS: "-"}),
    "gone@example.org": ("uk", {PARTNERS: "-", SUPPORTERS: "+"}),
    "en1@example.org": ("en", {PARTNERS: "+", SUPPORTERS: "+"}),
    "en2@example.org": ("en", {SUPPORTERS: "+"}),
    "en3@example.org": ("en", {PRESS: "+"}),
}
# Checked rows: those of these that the filtered page shows, at most two.
TO_CHECK = ("en2@example.org", "uk3@example.org", "uk4@example.org", "uk5@example.org")


def lists_by_name() -> dict[str, MailingList]:
    return {m.name: m for m in db.session.scalars(select(MailingList))}


def make_people(people: dict[str, tuple[str, dict[str, str]]] = PEOPLE) -> None:
    made = {name: make_list(name=name) for name in (PARTNERS, SUPPORTERS, PRESS)}
    for email, (language, subscriptions) in people.items():
        make_subscriber(email, language=language, lists=[made[n] for n in subscriptions])
    for email, (_language, subscriptions) in people.items():
        for name, status in subscriptions.items():
            if status == "-":
                bulk.remove_from_list(Selection(ids_of(email)), made[name].id)


def ids_of(*emails: str) -> tuple[int, ...]:
    return tuple(subscribers.find(e).id for e in emails)


Snapshot = dict[str, dict[str, object]]


def snapshot() -> Snapshot:
    """Every subscriber: language, status, suppressed or not, and each subscription."""
    db.session.expire_all()
    names = {m.id: m.name for m in db.session.scalars(select(MailingList))}
    suppressed = set(db.session.scalars(select(Suppression.email_hash)))
    rows: Snapshot = {}
    for s in db.session.scalars(select(Subscriber)):
        rows[s.email] = {
            "language": s.language,
            "status": s.status.value,
            "suppressed": s.email_hash in suppressed,
            "lists": {},
        }
    for email, list_id, status in db.session.execute(
        select(Subscriber.email, Subscription.list_id, Subscription.status).join(
            Subscriber, Subscriber.id == Subscription.subscriber_id
        )
    ):
        rows[email]["lists"][names[list_id]] = status.value  # type: ignore[index]
    return rows


def passes(row: dict[str, object], list_name: str | None, language: str | None) -> bool:
    """The filter's rule, written out: on the list (not left), language or a subtag of it."""
    on = row["lists"]  # type: ignore[assignment]
    if list_name and on.get(list_name) in (None, "unsubscribed"):  # type: ignore[union-attr]
        return False
    tag = str(row["language"])
    return not language or tag == language or tag.startswith(language + "-")


def expected_after(
    before: Snapshot, chosen: set[str], action: str, target_list: str, language: str
) -> Snapshot:
    """The database after the action, derived by hand from the one before."""
    after = copy.deepcopy(before)
    for email in chosen:
        row = after[email]
        on: dict[str, str] = row["lists"]  # type: ignore[assignment]
        if action == "add_to_list":
            on.setdefault(target_list, "confirmed")  # who left stays out
        elif action == "remove_from_list":
            if target_list in on:
                on[target_list] = "unsubscribed"
        elif action == "change_language":
            row["language"] = language
        elif action == "blocklist":
            row["status"], row["suppressed"] = "blocklisted", True
        elif action == "delete":
            del after[email]  # never mailed: the row goes
    return after


TARGETS = {  # action -> (the list chosen, the language typed)
    "add_to_list": (PRESS, ""),
    "remove_from_list": (SUPPORTERS, ""),
    "change_language": ("", "fr"),
    "blocklist": ("", ""),
    "delete": ("", ""),
}
LABELS = {
    "add_to_list": "Add to list",
    "remove_from_list": "Remove from list",
    "change_language": "Change language",
    "blocklist": "Blocklist (and suppress their addresses)",
    "delete": "Delete",
}


def run_on_page(
    client: Client,
    *,
    list_name: str | None,
    language: str | None,
    action: str,
    whole: bool,
    check: tuple[int, ...] = (),
    target_list: str = "",
    new_language: str = "",
):
    """Open the filtered page, choose as an organiser does, confirm when asked; return the
    confirmation page (None when none was asked for) and the page landed on."""
    lists = lists_by_name()
    query = {"list": lists[list_name].id} if list_name else {}
    if language:
        query["language"] = language
    page = text(client.get(f"/subscribers?{urlencode(query)}"))
    fields = submitted(
        form_of(page, form_id="bulk"),
        check={"ids": {str(i) for i in check}},
        radio={"scope": "all" if whole else "selected"},
        choose={
            "action-kind": LABELS[action],
            **({"action-list": target_list} if target_list else {}),
        },
        fill={"action-language": new_language},
    )
    answer = client.http.post("/subscribers/bulk", data=fields)
    if answer.status_code == 302:
        return None, client.get(answer.headers["Location"])
    assert answer.status_code == 200, answer.status_code
    confirmation = text(answer)
    confirm = submitted(form_of(confirmation, button_id="confirm"))
    done = client.http.post("/subscribers/bulk", data=confirm, follow_redirects=True)
    return confirmation, done


FILTERS = [(None, None), (PARTNERS, None), (None, "uk"), (PARTNERS, "uk")]


@pytest.mark.parametrize("action", list(TARGETS))
@pytest.mark.parametrize("whole", [False, True], ids=["checked", "whole-filter"])
@pytest.mark.parametrize(
    ("list_name", "language"), FILTERS, ids=["no-filter", "list", "language", "list+language"]
)
def test_each_action_changes_exactly_the_chosen_target_for_exactly_the_chosen_people(
    client, action, whole, list_name, language
):
    make_people()
    before = snapshot()
    matching = {e for e, row in before.items() if passes(row, list_name, language)}
    checked = [e for e in TO_CHECK if e in matching][:2]
    chosen = matching if whole else set(checked)
    target_list, new_language = TARGETS[action]

    confirmation, done = run_on_page(
        client,
        list_name=list_name,
        language=language,
        action=action,
        whole=whole,
        check=() if whole else ids_of(*checked),
        target_list=target_list,
        new_language=new_language,
    )

    assert snapshot() == expected_after(before, chosen, action, target_list, new_language)
    asked = whole or action in ("blocklist", "delete")
    assert (confirmation is not None) == asked
    if confirmation is not None:
        n = len(chosen)
        assert f": {n} subscriber{'' if n == 1 else 's'}?</h1>" in confirmation
        summary = re.search(r'id="bulk-summary">(.*?)</dl>', confirmation, re.S).group(1)
        assert f'id="bulk-action">{LABELS[action]}<' in unescape(summary)
        if target_list:
            assert f'id="bulk-target">{target_list}</dd>' in summary
        if new_language:
            assert re.search(rf'id="bulk-target">{new_language}\b', summary)
    messages = flashed(done)
    if action == "add_to_list":
        added = sum(1 for e in chosen if PRESS not in before[e]["lists"])  # type: ignore[operator]
        assert f"Added {added} to {PRESS}." in messages
    elif action == "remove_from_list":
        removed = sum(1 for e in chosen if before[e]["lists"].get(SUPPORTERS) == "confirmed")  # type: ignore[union-attr]
        assert f"Removed {removed} from {SUPPORTERS}." in messages
    elif action == "change_language":
        assert f"Changed the language of {len(chosen)} to fr." in messages


def test_the_reported_case_removes_from_supporters_and_partner_collectives_keeps_everyone(
    client,
):
    """Filtered by Partner collectives and uk, all matching, "Remove from list → Supporters":
    the confirmation names Supporters, the count and the filter; Supporters loses the 32."""
    lists = {name: make_list(name=name) for name in (PARTNERS, SUPPORTERS, PRESS)}
    both = [lists[PARTNERS], lists[SUPPORTERS]]
    make_subscribers(32, lists=both, prefix="olena", language="uk")
    make_subscribers(6, lists=both, prefix="ann", language="en")
    make_subscribers(4, lists=[lists[SUPPORTERS]], prefix="taras", language="uk")
    before = snapshot()

    confirmation, done = run_on_page(
        client,
        list_name=PARTNERS,
        language="uk",
        action="remove_from_list",
        whole=True,
        target_list=SUPPORTERS,
    )
    assert "<h1>Remove from the list Supporters: 32 subscribers?</h1>" in confirmation
    who = re.search(r'id="bulk-who">(.*?)</dd>', confirmation, re.S).group(1)
    assert who == (
        "Every subscriber matching the filter: on the list Partner collectives, "
        "language uk, as of now."
    )
    assert "list = 1" not in confirmation  # the filter in words, not as fields
    assert "Removed 32 from Supporters." in flashed(done)
    olenas = {e for e in before if e.startswith("olena")}
    assert snapshot() == expected_after(before, olenas, "remove_from_list", SUPPORTERS, "")
    on_partners = (
        select(func.count())
        .select_from(Subscription)
        .where(
            Subscription.list_id == lists[PARTNERS].id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
        )
    )
    assert db.session.scalar(on_partners) == 38  # nobody left Partner collectives

    # The same filter: add to Press contacts, then change the language to fr.
    confirmation, done = run_on_page(
        client,
        list_name=PARTNERS,
        language="uk",
        action="add_to_list",
        whole=True,
        target_list=PRESS,
    )
    assert "<h1>Add to the list Press contacts: 32 subscribers?</h1>" in confirmation
    assert "Added 32 to Press contacts." in flashed(done)
    confirmation, done = run_on_page(
        client,
        list_name=PARTNERS,
        language="uk",
        action="change_language",
        whole=True,
        new_language="fr",
    )
    assert "<h1>Change the language to fr: 32 subscribers?</h1>" in confirmation
    assert re.search(r'id="bulk-target">fr \(Français\)</dd>', confirmation)
    assert "Changed the language of 32 to fr." in flashed(done)
    after = snapshot()
    assert {e for e, row in after.items() if row["language"] == "fr"} == olenas
    assert {e for e, row in after.items() if PRESS in row["lists"]} == olenas  # type: ignore[operator]


def conflicting(lists: dict[str, MailingList], action: str, /, **extra: str) -> dict[str, str]:
    """A hand-made post filling both namespaces with values that disagree."""
    return {
        "scope": "all",
        "confirmed": "1",
        "filter-list": str(lists[PARTNERS].id),
        "filter-language": "uk",
        "action-kind": action,
        "action-list": str(lists[SUPPORTERS].id),
        "action-language": "fr",
    } | extra


@pytest.mark.parametrize(
    ("action", "target_list", "language"),
    [
        ("remove_from_list", SUPPORTERS, ""),
        ("add_to_list", SUPPORTERS, ""),
        ("change_language", "", "fr"),
        ("blocklist", "", ""),
    ],
)
def test_with_both_namespaces_filled_the_target_acts_and_the_filter_selects(
    client, action, target_list, language
):
    make_people()
    before = snapshot()
    chosen = {e for e, row in before.items() if passes(row, PARTNERS, "uk")}
    done = client.post(
        "/subscribers/bulk", data=conflicting(lists_by_name(), action), follow_redirects=True
    )
    assert not any(m.startswith("Nothing changed") for m in flashed(done)), flashed(done)
    assert snapshot() == expected_after(before, chosen, action, target_list, language)


@pytest.mark.parametrize(
    "bare",
    [
        {"list": "{partners}"},  # a page of before the namespaces: its filter
        {"language": "uk"},
        {"action": "remove_from_list"},
        {"q": "uk1"},
    ],
)
def test_a_post_with_names_of_both_namespaces_unprefixed_changes_nothing(client, bare):
    make_people()
    lists = lists_by_name()
    before = snapshot()
    extra = {k: v.format(partners=lists[PARTNERS].id) for k, v in bare.items()}
    done = client.post(
        "/subscribers/bulk",
        data=conflicting(lists, "remove_from_list", **extra),
        follow_redirects=True,
    )
    assert any("from an older page" in m for m in flashed(done)), flashed(done)
    assert snapshot() == before


def test_the_target_holds_only_what_its_action_uses(app):
    partners, supporters = make_list(name=PARTNERS), make_list(name=SUPPORTERS)
    target = BulkTarget.of("remove_from_list", list_id=str(supporters.id), language="fr")
    assert target == BulkTarget(BulkAction.REMOVE_FROM_LIST, list_id=supporters.id)
    target = BulkTarget.of("change_language", list_id=partners.id, language="pt_br")
    assert target == BulkTarget(BulkAction.CHANGE_LANGUAGE, language="pt-BR")
    assert BulkTarget.of("blocklist", list_id=partners.id, language="fr") == BulkTarget(
        BulkAction.BLOCKLIST
    )
    make_subscriber("a@example.org", language="uk", lists=[partners, supporters])
    whole = Selection(filter=SubscriberFilter(list_id=partners.id, language="uk"))
    assert bulk.apply(BulkTarget.of("remove_from_list", list_id=supporters.id), whole) == 1
    on = dict(db.session.execute(select(Subscription.list_id, Subscription.status)).all())
    assert on == {
        partners.id: SubscriptionStatus.CONFIRMED,
        supporters.id: SubscriptionStatus.UNSUBSCRIBED,
    }


def test_a_bad_target_on_the_confirmation_path_changes_nothing(client):
    make_people()
    lists = lists_by_name()
    before = snapshot()
    for form, problem in [
        ({"action-list": ""}, "choose a list"),
        ({"action-list": "999999"}, "choose a list"),
        ({"action-list": "x"}, "is not a list id"),
        ({"action-kind": "change_language", "action-language": "zz-notalang-999999"}, "known"),
        ({"action-kind": "change_language", "action-language": "gr"}, "did you mean el?"),
    ]:
        post = conflicting(lists, "remove_from_list") | form
        done = client.post("/subscribers/bulk", data=post, follow_redirects=True)
        assert any(problem in m for m in flashed(done)), (form, flashed(done))
    assert snapshot() == before
    assert {row["status"] for row in before.values()} == {SubscriberStatus.ACTIVE.value}
