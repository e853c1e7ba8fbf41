"""Language tags are checked against the IANA registry wherever one is typed: a CSV import
(an unknown tag is reported and the list's default is used), the subscriber forms, campaign
variants and settings, list settings, bulk "change language". A country code typed as a
language (``ua`` for Ukrainian) says which tag was meant; one that is also a language
(``se``: Northern Sami, not Swedish) is kept, with a warning."""

from __future__ import annotations

import time

import langcodes
import pytest
from sqlalchemy import select

from app.audience import import_rows, subscribers
from app.audience.groups import GroupFields, create_group
from app.campaigns import campaign_files, drafts
from app.errors import InvalidInput
from app.extensions import db
from app.languages import check_tag, confusion, is_registered, normalize_tag
from app.models import Campaign, Group, MailingList, Subscriber
from tests.support.factories import make_campaign, make_list, make_subscriber
from tests.support.imports import report_of, run_import
from tests.support.panel import flashed, text

COUNTRY_CODES = [
    ("ua", "uk"),
    ("gr", "el"),
    ("cz", "cs"),
    ("dk", "da"),
    ("jp", "ja"),
    ("cn", "zh"),
    ("ir", "fa"),
    ("us", "en"),
    ("ge", "ka"),
    ("by", "be"),
]


# --- The rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "tag"),
    [
        ("uk", "uk"),
        ("pt_br", "pt-BR"),
        ("uk-ua", "uk-UA"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("sr-Latn", "sr-Latn"),
        ("es-419", "es-419"),
        ("de-1996", "de-1996"),
        ("fil", "fil"),
    ],
)
def test_registered_tags_are_accepted_in_canonical_case(typed, tag):
    assert normalize_tag(typed) == tag
    assert confusion(tag) == ""


@pytest.mark.parametrize("unknown", ["zz-notalang-999999", "zz", "qq-QQ", "en-Abcd", "xyz-foo"])
def test_well_formed_tags_missing_from_the_registry_are_refused(unknown):
    with pytest.raises(InvalidInput, match="is not a known language tag"):
        normalize_tag(unknown)
    # A filter still looks for what was stored before tags were checked.
    assert normalize_tag(unknown, registered=False)


@pytest.mark.parametrize(("country", "language"), COUNTRY_CODES)
def test_a_country_code_typed_as_a_language_says_which_language_was_meant(country, language):
    with pytest.raises(InvalidInput, match=f"did you mean {language}\\?"):
        normalize_tag(country)
    with pytest.raises(InvalidInput, match=f"did you mean {language}-UA\\?"):
        normalize_tag(f"{country}-UA")
    assert check_tag(country.upper()).note.endswith(f"did you mean {language}?")


@pytest.mark.parametrize(
    ("tag", "meant"),
    [("se", "sv"), ("ee", "et"), ("si", "sl"), ("kr", "ko"), ("ukr", "uk"), ("iw", "he")],
)
def test_a_registered_tag_that_is_a_common_mistake_is_kept_with_a_warning(tag, meant):
    assert normalize_tag(tag) == tag
    assert confusion(tag).endswith(f"did you mean {meant}?")
    assert check_tag(tag).known


def test_the_registry_is_asked_once_per_distinct_tag(monkeypatch):
    calls: list[str] = []
    real = langcodes.tag_is_valid
    monkeypatch.setattr(langcodes, "tag_is_valid", lambda tag: calls.append(tag) or real(tag))
    is_registered.cache_clear()
    check_tag.cache_clear()
    import_rows.language_of.cache_clear()
    for _ in range(2000):
        for value in ("uk", "en", "ua", "zz-notalang-999999", "pt-BR"):
            import_rows.language_of(value)
    assert sorted(calls) == sorted(["uk", "en", "ua", "zz-notalang-999999", "pt-BR"])


def test_checking_a_language_cell_stays_cheap_per_row():
    """The import's per-row path: a cached dictionary hit, never the registry."""
    checker = import_rows.RowChecker(
        ["email", "language"], {"email": "email", "language": "language"}, "en", {}
    )
    cells = [[f"p{n}@example.org", ("uk", "ua", "se", "pt-br")[n % 4]] for n in range(20_000)]
    import_rows.language_of.cache_clear()
    start = time.perf_counter()
    checked = [checker.check(n, row) for n, row in enumerate(cells)]
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, elapsed  # about 10 µs a row here; the registry is asked 4 times
    assert [c.values.get("language") for c in checked[:4]] == ["uk", None, "se", "pt-BR"]


# --- A CSV import -------------------------------------------------------------------------------


def test_an_import_reports_unknown_tags_and_uses_the_lists_default(app):
    partners = make_list(default_language="uk")
    rows = [
        "email,name,language",
        "known@example.org,Known,pl",  # 2
        "notalang@example.org,Not a language,zz-notalang-999999",  # 3
        "country@example.org,Country code,ua",  # 4
        "greek@example.org,Greek,GR",  # 5
        "sami@example.org,Sami or Swedish,se",  # 6
        "name@example.org,A name,Ukrainian",  # 7
        "malformed@example.org,Malformed,xx-!!",  # 8
        "regional@example.org,Regional,pt_br",  # 9
        "",
    ]
    job = run_import("\n".join(rows).encode(), partners)
    assert [(r["line"], r["outcome"], r["reason"]) for r in report_of(job)] == [
        (
            "3",
            "imported with a warning",
            "unknown language 'zz-notalang-999999' (it is not in the IANA registry); "
            "imported as uk",
        ),
        (
            "4",
            "imported with a warning",
            "unknown language 'ua' (UA is the country code of Ukraine; did you mean uk?); "
            "imported as uk",
        ),
        (
            "5",
            "imported with a warning",
            "unknown language 'GR' (GR is the country code of Greece; did you mean el?); "
            "imported as uk",
        ),
        (
            "6",
            "imported with a warning",
            "language se imported as written; 'se' is Northern Sami (SE is the country code "
            "of Sweden): did you mean sv?",
        ),
        ("8", "imported with a warning", "unknown language 'xx-!!'; imported as uk"),
    ]
    assert (job.imported, job.rejected) == (8, 0)
    stored = dict(db.session.execute(select(Subscriber.email, Subscriber.language)).all())
    assert stored == {
        "known@example.org": "pl",
        "notalang@example.org": "uk",
        "country@example.org": "uk",
        "greek@example.org": "uk",
        "sami@example.org": "se",
        "name@example.org": "uk",
        "malformed@example.org": "uk",
        "regional@example.org": "pt-BR",
    }


def test_an_update_import_leaves_the_language_of_an_unknown_tag_unchanged(app):
    make_subscriber("ann@example.org", language="pl", lists=[])
    job = run_import(b"email,language\nann@example.org,ua\n", mode="update")
    assert [(r["line"], r["reason"]) for r in report_of(job)] == [
        (
            "2",
            "unknown language 'ua' (UA is the country code of Ukraine; did you mean uk?); "
            "unchanged",
        )
    ]
    db.session.expire_all()
    assert subscribers.find("ann@example.org").language == "pl"


# --- The panel's forms and the services behind them -----------------------------------------


def test_the_add_subscriber_form_refuses_an_unknown_tag_and_warns_on_a_confusion(client):
    partners = make_list()
    fields = {"email": "olena@example.org", "lists": [str(partners.id)], "group": "0"}
    refused = text(client.post("/subscribers", data={**fields, "language": "ua"}))
    assert "UA is the country code of Ukraine; did you mean uk?" in refused
    refused = text(client.post("/subscribers", data={**fields, "language": "zz-notalang-999999"}))
    assert "is not a known language tag" in refused
    assert db.session.scalar(select(Subscriber)) is None
    added = client.post("/subscribers", data={**fields, "language": "se"}, follow_redirects=True)
    assert "Added olena@example.org." in flashed(added)
    assert any("did you mean sv?" in m for m in flashed(added)), flashed(added)
    assert subscribers.find("olena@example.org").language == "se"
    with pytest.raises(InvalidInput, match="did you mean cs"):
        subscribers.add_subscriber("petr@example.org", lists=[partners], language="cz")


def test_the_subscriber_page_refuses_an_unknown_tag(client):
    partners = make_list()
    ann = make_subscriber("ann@example.org", language="uk", lists=[partners])
    fields = {
        "email": "ann@example.org",
        "language": "dk",
        "group": "0",
        "status": "active",
        "lists": [str(partners.id)],
    }
    refused = client.post(f"/subscribers/{ann.id}", data=fields)
    assert refused.status_code == 200 and "did you mean da?" in text(refused)
    db.session.expire_all()
    assert subscribers.find("ann@example.org").language == "uk"
    saved = client.post(
        f"/subscribers/{ann.id}", data={**fields, "language": "da"}, follow_redirects=True
    )
    assert "Saved." in flashed(saved)
    db.session.expire_all()
    assert subscribers.find("ann@example.org").language == "da"


def test_a_variant_in_an_unknown_language_is_refused(client):
    campaign = make_campaign({"en": "Hello"})
    fields = {"subject": "Привіт", "body": "Текст", "body_format": "markdown", "ready": "y"}
    refused = client.post(f"/campaigns/{campaign.id}/variant", data={**fields, "language": "ua"})
    assert refused.status_code == 200 and "did you mean uk?" in text(refused)
    saved = client.post(
        f"/campaigns/{campaign.id}/variant",
        data={**fields, "language": "uk"},
        follow_redirects=True,
    )
    assert "Saved the uk variant." in flashed(saved)
    warned = client.post(
        f"/campaigns/{campaign.id}/variant",
        data={**fields, "language": "se"},
        follow_redirects=True,
    )
    assert any("did you mean sv?" in m for m in flashed(warned)), flashed(warned)
    db.session.expire_all()
    assert sorted(v.language for v in db.session.get(Campaign, campaign.id).variants) == [
        "en",
        "se",
        "uk",
    ]
    with pytest.raises(InvalidInput, match="is not a known language tag"):
        drafts.save_variant(campaign.id, "zz-notalang-999999", subject="S", body="B")


def test_a_campaign_file_with_an_unknown_variant_language_is_refused(app):
    content = (
        'name = "Week of action"\nlists = ["partners"]\ndefault_language = "en"\n\n'
        '[[variants]]\nlanguage = "en"\nsubject = "Hello"\nbody = "Hi"\n\n'
        '[[variants]]\nlanguage = "jp"\nsubject = "Konnichiwa"\nbody = "Hi"\n'
    )
    make_list(slug="partners")
    with pytest.raises(InvalidInput, match="did you mean ja"):
        campaign_files.import_text(content, "toml")
    assert db.session.scalar(select(Campaign)) is None


def test_campaign_settings_refuse_unknown_default_fallback_and_filter_languages(client):
    partners = make_list()
    campaign = make_campaign({"en": "Hello"}, lists=[partners])
    fields = {"name": "Renamed", "lists": [str(partners.id)], "template": "0"}
    for field, typed, meant in [
        ("default_language", "gr", "el"),
        ("fallbacks", "pl ua", "uk"),
        ("filter_languages", "uk cn", "zh"),
    ]:
        post = {"default_language": "en", **fields, field: typed}
        refused = client.post(f"/campaigns/{campaign.id}/settings", data=post)
        assert refused.status_code == 200 and f"did you mean {meant}?" in text(refused), field
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).name != "Renamed"
    with pytest.raises(InvalidInput, match="did you mean uk"):
        drafts.update_campaign(campaign.id, "X", lists=[partners], fallbacks=["ua"])


def test_a_lists_default_language_is_checked(client):
    fields = {"name": "Partners", "visibility": "private", "optin": "double"}
    refused = client.post("/lists", data={**fields, "slug": "partners", "default_language": "ir"})
    assert "did you mean fa?" in text(refused)
    assert db.session.scalar(select(MailingList)) is None
    client.post("/lists", data={**fields, "slug": "partners", "default_language": "fa"})
    assert db.session.scalar(select(MailingList)).default_language == "fa"


def test_the_subscribers_filter_finds_tags_stored_before_the_check_and_hints(client):
    partners = make_list()
    make_subscriber("old@example.org", language="uk", lists=[partners])
    db.session.execute(
        Subscriber.__table__.update().values(language="ua")
    )  # as an import of before the check stored it
    db.session.commit()
    page = client.get("/subscribers?language=ua")
    assert "<strong>1</strong> matching" in text(page)
    assert any("did you mean uk?" in m for m in flashed(page)), flashed(page)


def test_the_preference_centre_keeps_a_tag_stored_before_the_check_but_offers_no_unknown(app):
    from tests.support.messages import preference_page

    path, olena, found = preference_page()
    db.session.execute(Subscriber.__table__.update().values(language="ua"))
    db.session.commit()
    client = app.test_client()
    fields = {"action": "save", "name": "Olena", "lists": [str(found["partners"].id)]}
    kept = client.post(path, data={**fields, "language": "ua"})
    assert kept.status_code == 200
    db.session.expire_all()
    assert db.session.get(Subscriber, olena.id).name == "Olena"
    refused = client.post(path, data={**fields, "name": "X", "language": "gr"})
    assert refused.status_code == 422
    db.session.expire_all()
    assert (db.session.get(Subscriber, olena.id).name, olena.language) == ("Olena", "ua")


def test_a_groups_languages_are_checked_in_the_form_and_the_service(client):
    refused = client.post("/groups", data={"name": "Kyiv aid", "languages": "uk, ua"})
    assert refused.status_code == 200 and "did you mean uk?" in text(refused)
    with pytest.raises(InvalidInput, match="did you mean uk"):
        create_group(GroupFields(name="Kyiv aid", languages="en ua"))
    created = client.post(
        "/groups", data={"name": "Kyiv aid", "languages": "uk,en se"}, follow_redirects=True
    )
    assert "Created the group Kyiv aid." in flashed(created)
    assert db.session.scalar(select(Group)).languages == ["uk", "en", "se"]
