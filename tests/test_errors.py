"""The kinds of refused input: each carries its facts and words its own message, and the
services raise them naming the field."""

from __future__ import annotations

import pytest

from app.audience import groups
from app.audience.fields import clean_country
from app.audience.filters import SubscriberFilter
from app.audience.groups import GroupFields
from app.campaigns import drafts
from app.errors import (
    InvalidInput,
    Malformed,
    NoSuch,
    NotOneOf,
    Required,
    Taken,
    TemplateProblem,
    TocsinError,
    TooLong,
    TooMany,
)
from tests.support.factories import make_list


def test_required_says_what_needs_the_value():
    problem = Required("name", "a campaign")
    assert (problem.field, problem.owner, str(problem)) == (
        "name",
        "a campaign",
        "a campaign needs a name",
    )
    asked = Required("lists", message="choose at least one list to send to")
    assert (asked.field, str(asked)) == ("lists", "choose at least one list to send to")


def test_too_long_names_the_limit():
    problem = TooLong("city", "the city", 120)
    assert (problem.field, problem.what, problem.limit) == ("city", "the city", 120)
    assert str(problem) == "the city is longer than 120 characters"
    assert str(TooLong("notes", "the notes", 5000, plural=True)) == (
        "the notes are longer than 5000 characters"
    )


def test_too_many_names_the_limit():
    problem = TooMany("ids", "subscribers", 1000)
    assert (problem.field, problem.what, problem.limit) == ("ids", "subscribers", 1000)
    assert str(problem) == "at most 1000 subscribers"


def test_not_one_of_lists_the_choices():
    problem = NotOneOf("status", "gone", ["active", "blocklisted"])
    assert (problem.field, problem.value, problem.choices) == (
        "status",
        "gone",
        ("active", "blocklisted"),
    )
    assert str(problem) == "'gone' is not one of active, blocklisted"


def test_no_such_says_how_it_was_looked_for():
    problem = NoSuch("groups", "group", "3, 4")
    assert (problem.field, problem.kind, problem.key, problem.by) == (
        "groups",
        "group",
        "3, 4",
        "with id",
    )
    assert str(problem) == "no group with id 3, 4"
    assert str(NoSuch("list", "list", "'nope'", by="with slug")) == "no list with slug 'nope'"
    assert str(NoSuch("template", "template", "'Plain'", by="named")) == (
        "no template named 'Plain'"
    )


def test_malformed_says_what_was_expected():
    problem = Malformed("country", "Ukraine", "a two-letter country code such as UA")
    assert (problem.field, problem.value, problem.expected) == (
        "country",
        "Ukraine",
        "a two-letter country code such as UA",
    )
    assert str(problem) == "'Ukraine' is not a two-letter country code such as UA"


def test_taken_names_the_value():
    problem = Taken("name", "group", "Kyiv aid")
    assert (problem.field, problem.kind, problem.value) == ("name", "group", "Kyiv aid")
    assert str(problem) == "a group named 'Kyiv aid' exists already"


@pytest.mark.parametrize("kind", [Required, TooLong, TooMany, NotOneOf, NoSuch, Malformed, Taken])
def test_every_kind_is_refused_input_that_views_and_the_cli_catch(kind):
    assert issubclass(kind, InvalidInput) and issubclass(kind, TocsinError)


def test_a_given_wording_keeps_the_facts():
    problem = NotOneOf("role", "boss", ["owner", "editor"], message="role must be one of …")
    assert (str(problem), problem.value, problem.choices) == (
        "role must be one of …",
        "boss",
        ("owner", "editor"),
    )


def test_a_template_problem_still_says_its_line():
    problem = TemplateProblem("unexpected end of template", line=3)
    assert (problem.field, problem.line, str(problem)) == (
        "template",
        3,
        "line 3: unexpected end of template",
    )


def test_services_raise_the_kind_with_its_field(app):
    with pytest.raises(Required) as missing:
        drafts.create_campaign("  ", lists=[make_list()])
    assert (missing.value.field, str(missing.value)) == ("name", "a campaign needs a name")
    groups.create_group(GroupFields(name="Kyiv aid"))
    with pytest.raises(Taken) as taken:
        groups.create_group(GroupFields(name="kyiv AID"))
    assert (taken.value.field, taken.value.value) == ("name", "kyiv AID")
    with pytest.raises(TooLong) as long_city:
        groups.create_group(GroupFields(name="Lviv aid", city="x" * 121))
    assert (long_city.value.field, long_city.value.limit) == ("city", 120)
    assert str(long_city.value) == "the city is longer than 120 characters"
    with pytest.raises(Malformed) as country:
        clean_country("Ukraine")
    assert (country.value.field, country.value.value) == ("country", "Ukraine")
    with pytest.raises(NotOneOf) as status:
        SubscriberFilter.from_args({"status": "gone"})
    assert (status.value.field, status.value.value) == ("status", "gone")
    with pytest.raises(NoSuch) as group:
        drafts.clean_filters({"groups": [999]})
    assert (group.value.field, str(group.value)) == ("groups", "no group with id 999")


def test_member_of_gives_the_member_or_names_the_field_and_every_choice():
    from app.errors import member_of
    from app.models import OptIn

    assert member_of(OptIn, "single", "optin") is OptIn.SINGLE
    with pytest.raises(NotOneOf) as refused:
        member_of(OptIn, "triple", "optin")
    assert refused.value.field == "optin" and refused.value.value == "triple"
    assert set(refused.value.choices) == {o.value for o in OptIn}
    assert str(refused.value) == f"'triple' is not one of {', '.join(o.value for o in OptIn)}"
    with pytest.raises(NotOneOf, match="^no such way$"):
        member_of(OptIn, "triple", "optin", message="no such way")
