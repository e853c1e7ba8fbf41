"""A campaign and all its variants as one TOML or YAML file, for translators and git.

Export writes what defines the campaign (not its status, schedule or ledger). Import
creates a new draft from such a file, checking every field and template first, so a bad
file creates nothing.
"""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w
import yaml
from sqlalchemy import select

from app.campaigns import drafts
from app.errors import InvalidInput, Malformed, NoSuch, NotOneOf
from app.extensions import db
from app.messages.composing import written_words
from app.models import Campaign, Group, MailingList, Template

FORMATS = ("toml", "yaml")
CAMPAIGN_KEYS = {
    "name",
    "default_language",
    "fallbacks",
    "from",
    "lists",
    "template",
    "smtp_server",
    "archive",
    "filters",
    "variants",
}
VARIANT_KEYS = {"language", "subject", "preheader", "body_format", "ready", "body", "footer"}
FOOTER_KEYS = ("reason", "unsubscribe", "preferences")
# A campaign with a dozen long variants is a few hundred kilobytes.
MAX_FILE_BYTES = 1_000_000


class _PlainYamlLoader(yaml.SafeLoader):
    """YAML without anchors and aliases, refused as soon as the parser meets one.

    An alias repeats a node without repeating its text, so a few hundred bytes of nested
    aliases describe billions of values; campaign files never need them. The refusal comes
    from the composer, before any node is built or expanded.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def to_data(campaign: Campaign) -> dict[str, Any]:
    """Return the campaign as plain data; lists by slug, groups and template by name."""
    filters = dict(campaign.filters or {})
    if filters.get("groups"):
        names = db.session.scalars(select(Group.name).where(Group.id.in_(filters["groups"])))
        filters["groups"] = sorted(names)
    data: dict[str, Any] = {
        "name": campaign.name,
        "default_language": campaign.default_language,
        "fallbacks": list(campaign.fallbacks or []),
        "from": campaign.from_address,
        "lists": sorted(m.slug for m in campaign.lists),
        "archive": campaign.archive,
        "filters": filters,
    }
    if campaign.template is not None:
        data["template"] = campaign.template.name
    if campaign.smtp_server:
        data["smtp_server"] = campaign.smtp_server
    data["variants"] = [
        {
            "language": v.language,
            "subject": v.subject,
            "preheader": v.preheader,
            "body_format": v.body_format.value,
            "ready": v.ready,
            "body": v.body,
            **(
                {"footer": dict(zip(FOOTER_KEYS, written_words(v), strict=True))}
                if v.footer_reason
                else {}
            ),
        }
        for v in campaign.variants
    ]
    return data


def export(campaign: Campaign, fmt: str) -> str:
    """Return the campaign file's text in ``toml`` or ``yaml``."""
    data = to_data(campaign)
    if fmt == "toml":
        return tomli_w.dumps(data, multiline_strings=True)
    if fmt == "yaml":
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    raise NotOneOf("format", fmt, FORMATS, message=f"export as toml or yaml, not {fmt!r}")


def _check_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise InvalidInput(
            f"a campaign file is at most 1 MB ({MAX_FILE_BYTES:,} bytes); this one is larger",
            "file",
        )


def read_file(data: bytes) -> str:
    """Return a campaign file's text, or refuse it: over ``MAX_FILE_BYTES`` or not UTF-8.

    Callers read at most ``MAX_FILE_BYTES + 1`` bytes, so a larger file is never held whole.
    """
    _check_size(len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"campaign files are UTF-8 text (byte {exc.start + 1} is not)", "file"
        ) from None


def import_file(data: bytes, fmt: str) -> Campaign:
    """Create a draft campaign from a campaign file's bytes; all or nothing."""
    return import_text(read_file(data), fmt)


def parse(text: str, fmt: str) -> dict[str, Any]:
    """Read a campaign file; syntax errors name their line. Files over ``MAX_FILE_BYTES``,
    YAML anchors and aliases, and nesting deeper than Python can follow are refused."""
    _check_size(len(text.encode("utf-8", "surrogatepass")))
    try:
        if fmt == "toml":
            data = tomllib.loads(text)
        elif fmt == "yaml":
            data = yaml.load(text, Loader=_PlainYamlLoader)  # noqa: S506  (a SafeLoader)
        else:
            raise NotOneOf(
                "format", fmt, FORMATS, message=f"campaign files are toml or yaml, not {fmt!r}"
            )
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise InvalidInput(f"not valid YAML{line}: {problem}") from None
    except RecursionError:
        raise InvalidInput(f"not valid {fmt.upper()}: nested too deeply") from None
    except ValueError as exc:  # a number too long to convert
        raise InvalidInput(f"not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("a campaign file holds a table of fields, starting with name")
    return data


def import_text(text: str, fmt: str) -> Campaign:
    """Create a draft campaign from a campaign file's text; all or nothing."""
    data = parse(text, fmt)
    _check_keys(data, CAMPAIGN_KEYS, "the campaign")
    variants = data.get("variants") or []
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise InvalidInput("variants must be a list of tables, one per language", "variants")
    for number, variant in enumerate(variants, 1):
        _check_keys(variant, VARIANT_KEYS, f"variant {number}")
    filters = dict(_typed(data, "filters", dict, {}))
    if filters.get("groups"):
        filters["groups"] = _group_ids(filters["groups"])
    campaign = drafts.create_campaign(
        _typed(data, "name", str, ""),
        lists=_lists(_typed(data, "lists", list, [])),
        default_language=_typed(data, "default_language", str, "en"),
        from_address=_typed(data, "from", str, ""),
        template=_template(data.get("template")),
        fallbacks=[str(tag) for tag in _typed(data, "fallbacks", list, [])],
        smtp_server=_typed(data, "smtp_server", str, "") or None,
        filters=filters,
        archive=_typed(data, "archive", bool, False),
    )
    try:
        for variant in variants:
            drafts.save_variant(
                campaign.id,
                _typed(variant, "language", str, ""),
                subject=_typed(variant, "subject", str, ""),
                preheader=_typed(variant, "preheader", str, ""),
                body=_typed(variant, "body", str, ""),
                body_format=_typed(variant, "body_format", str, "markdown"),
                ready=_typed(variant, "ready", bool, True),
                footer=_footer(variant),
            )
    except InvalidInput as exc:
        db.session.rollback()
        db.session.delete(db.session.get(Campaign, campaign.id))
        db.session.commit()
        language = variant.get("language", "?")
        raise InvalidInput(f"variant {language}: {exc}", exc.field) from None
    return campaign


def _footer(variant: dict[str, Any]) -> tuple[str, str, str]:
    """A variant's footer words from a file (a table of reason, unsubscribe, preferences)."""
    words = _typed(variant, "footer", dict, {})
    _check_keys(words, set(FOOTER_KEYS), "footer")
    reason, unsubscribe, preferences = (_typed(words, key, str, "") for key in FOOTER_KEYS)
    return reason, unsubscribe, preferences


def _check_keys(data: dict[str, Any], allowed: set[str], what: str) -> None:
    if unknown := set(data) - allowed:
        raise InvalidInput(
            f"{what}: unknown field {', '.join(sorted(map(str, unknown)))}; "
            f"fields are {', '.join(sorted(allowed))}"
        )


def _typed(data: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Malformed(
            key,
            value,
            f"a {kind.__name__}",
            message=f"{key} must be a {kind.__name__}, not {value!r}",
        )
    return value


def _lists(slugs: list[Any]) -> list[MailingList]:
    if not all(isinstance(slug, str) for slug in slugs):
        raise InvalidInput("lists must be a list of list slugs", "lists")
    found = {
        m.slug: m
        for m in db.session.scalars(select(MailingList).where(MailingList.slug.in_(slugs)))
    }
    if missing := [str(slug) for slug in slugs if slug not in found]:
        raise NoSuch("lists", "list", ", ".join(missing), by="with slug")
    return [found[slug] for slug in slugs]


def _group_ids(names: Any) -> list[int]:
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidInput("filters.groups must be a list of group names", "groups")
    rows = db.session.execute(select(Group.name, Group.id).where(Group.name.in_(names))).all()
    found = {name: group_id for name, group_id in rows}
    if missing := [str(name) for name in names if name not in found]:
        raise NoSuch("groups", "group", ", ".join(missing), by="named")
    return [found[name] for name in names]


def _template(name: Any) -> Template | None:
    if name in (None, ""):
        return None
    found = db.session.scalars(select(Template).where(Template.name == str(name))).first()
    if found is None:
        raise NoSuch("template", "template", repr(name), by="named")
    return found
