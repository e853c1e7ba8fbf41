"""Demo data: the Solidarity Collectives call for a week of action, in five languages
(``call/`` holds its text), loaded by ``tocsin demo`` and once by ``tocsin up``.

May import the domain packages it fills (audience, campaigns) and the platform modules.
"""

from __future__ import annotations

import random
import re
import unicodedata
from importlib.resources import files

from sqlalchemy import select

from app.audience import lists, subscribers
from app.campaigns import drafts
from app.errors import Conflict
from app.extensions import db
from app.models import Group, MailingList

# (name, country, city, website language, languages)
GROUPS = [
    ("Kyiv Mutual Aid", "UA", "Kyiv", "uk"),
    ("Lviv Solidarity Kitchen", "UA", "Lviv", "uk"),
    ("Kharkiv Volunteers Network", "UA", "Kharkiv", "uk"),
    ("Odesa Free Library", "UA", "Odesa", "uk"),
    ("Dnipro Food Not Bombs", "UA", "Dnipro", "uk"),
    ("Berlin Ukraine Solidarity", "DE", "Berlin", "de"),
    ("Hamburg Hafen Kollektiv", "DE", "Hamburg", "de"),
    ("Leipzig Soli-Café", "DE", "Leipzig", "de"),
    ("Wien Solidarisch", "AT", "Vienna", "de"),
    ("Zürich Kollektiv Ost", "CH", "Zurich", "de"),
    ("Paris Solidarité Ukraine", "FR", "Paris", "fr"),
    ("Lyon Croix-Rousse Collectif", "FR", "Lyon", "fr"),
    ("Marseille Entraide", "FR", "Marseille", "fr"),
    ("Bruxelles Solidaire", "BE", "Brussels", "fr"),
    ("Montréal Réseau d'entraide", "CA", "Montreal", "fr"),
    ("Madrid Ateneo Libertario", "ES", "Madrid", "es"),
    ("Barcelona Solidaritat", "ES", "Barcelona", "es"),
    ("Valencia Apoyo Mutuo", "ES", "Valencia", "es"),
    ("Buenos Aires Red Solidaria", "AR", "Buenos Aires", "es"),
    ("Ciudad de México Colectiva", "MX", "Mexico City", "es"),
    ("London Solidarity Network", "GB", "London", "en"),
    ("Glasgow Ukraine Solidarity", "GB", "Glasgow", "en"),
    ("Dublin Mutual Aid", "IE", "Dublin", "en"),
    ("New York Solidarity Collective", "US", "New York", "en"),
    ("Warszawa Kolektyw Solidarności", "PL", "Warsaw", "pl"),
    ("Kraków Pomoc Wzajemna", "PL", "Krakow", "pl"),
    ("São Paulo Coletivo Solidário", "BR", "São Paulo", "pt-BR"),
    ("Lisboa Apoio Mútuo", "PT", "Lisbon", "pt"),
    ("Praha Solidarita", "CZ", "Prague", "cs"),
    ("Tbilisi Autonomous Space", "GE", "Tbilisi", "ka"),
]
GIVEN = [
    "Olena",
    "Taras",
    "Anna",
    "Jonas",
    "Marie",
    "Lucía",
    "Pablo",
    "Chloé",
    "Sam",
    "Ola",
    "Iryna",
    "Mateo",
    "Léa",
    "Emma",
    "Kasia",
    "João",
    "Petra",
    "Nino",
    "Dmytro",
    "Sofia",
]
# Languages of individual subscribers: the five variants, and some with no variant of their own.
LANGUAGES = ["uk"] * 6 + ["en"] * 5 + ["de"] * 4 + ["fr"] * 4 + ["es"] * 4 + ["pl", "pt-BR", "it"]
FALLBACKS = ["en"]


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def _read_call(language: str) -> tuple[str, str, str]:
    text = files("app").joinpath(f"demo/call/{language}.md").read_text("utf-8")
    head, _, body = text.partition("\n\n")
    fields = dict(line.split(": ", 1) for line in head.splitlines())
    return fields["Subject"], fields["Preheader"], body.strip() + "\n"


def load(count: int = 200) -> str:
    """Create the demo lists, groups, subscribers and campaign; refuse to load twice."""
    if db.session.scalar(select(MailingList).where(MailingList.slug == "partners")):
        raise Conflict("the demo is loaded already (a list with slug 'partners' exists)")
    rng = random.Random(2025)
    partners = lists.create_list(
        "partners",
        "Partner collectives",
        optin="single",
        description="Groups that take part in our weeks of action.",
    )
    supporters = lists.create_list(
        "supporters",
        "Supporters",
        visibility="public",
        description="Individuals who follow our calls.",
    )
    lists.create_list("press", "Press contacts", description="Journalists and editors.")
    groups = []
    for name, country, city, language in GROUPS:
        group = Group(
            name=name,
            country=country,
            city=city,
            languages=[language],
            website=f"https://{_slug(name)}.example.org/",
        )
        db.session.add(group)
        groups.append((group, language))
    db.session.commit()
    for group, language in groups[:count]:
        subscribers.add_subscriber(
            f"contact@{_slug(group.name)}.example.org",
            lists=[partners],
            language=language,
            name=group.name,
            group=group,
        )
    for number in range(max(0, count - len(groups))):
        group, group_language = rng.choice(groups)
        language = group_language if rng.random() < 0.5 else rng.choice(LANGUAGES)
        given = rng.choice(GIVEN)
        targets = [partners, supporters] if rng.random() < 0.6 else [supporters]
        subscribers.add_subscriber(
            f"{_slug(given)}.{number}@{_slug(group.name)}.example.org",
            lists=targets,
            language=language,
            name=given,
            group=group if partners in targets else None,
        )
    campaign = drafts.create_campaign(
        "Call for a week of action, 24 February – 3 March 2025",
        lists=[partners],
        default_language="en",
        fallbacks=FALLBACKS,
        archive=True,
    )
    for language in ("en", "uk", "es", "fr", "de"):
        subject, preheader, body = _read_call(language)
        drafts.save_variant(campaign.id, language, subject=subject, preheader=preheader, body=body)
    return (
        f"demo loaded: {len(groups)} groups, {count} subscribers, lists partners, "
        f"supporters, press; campaign {campaign.id} in en, uk, es, fr, de"
    )
