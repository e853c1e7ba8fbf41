"""A campaign as one TOML or YAML file: export, import, round trip, and bad files refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.campaigns import campaign_files
from app.errors import InvalidInput
from app.extensions import db
from app.models import Campaign
from tests.support.factories import full_campaign, make_list


@pytest.mark.parametrize("fmt", ["toml", "yaml"])
def test_export_then_import_round_trips_every_field(app, fmt):
    original = full_campaign()
    text = campaign_files.export(original, fmt)
    copy = campaign_files.import_text(text, fmt)
    assert copy.id != original.id and copy.status.value == "draft"
    assert campaign_files.to_data(copy) == campaign_files.to_data(original)
    data = campaign_files.to_data(copy)
    assert data["name"] == "Week of action 2027"  # not the sender's display name
    assert data["filters"]["groups"] == ["Kyiv mutual aid"]
    assert {v["language"]: v["ready"] for v in data["variants"]} == {
        "en": True,
        "es": False,
        "uk": True,
    }
    # And once more: the file of the copy is the same file.
    assert campaign_files.export(copy, fmt) == text


def campaigns_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Campaign))


GOOD = """name = "Call"
lists = ["partners"]
[[variants]]
language = "en"
subject = "Hello"
body = "Hi {{ name | default('friends') }}"
"""


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("toml", 'name = "x\nlists = []', "not valid TOML"),
        ("yaml", "name: [unclosed\nlists: []", "not valid YAML at line"),
        ("yaml", "!!python/object/apply:os.system ['true']", "not valid YAML"),
        ("yaml", "- just a list", "a table of fields"),
        ("toml", 'colour = "red"\n' + GOOD, "the campaign: unknown field colour"),
        ("toml", GOOD.replace('language = "en"', 'language = "en"\nlanguge = "x"'), "variant 1"),
        ("toml", GOOD.replace('lists = ["partners"]', 'lists = ["nobody"]'), "no list with slug"),
        ("toml", GOOD.replace('lists = ["partners"]', 'lists = "partners"'), "lists must be a"),
        ("toml", GOOD.replace("{{ name", "{{ config.items() }}{{ name"), "variant en: .*config"),
        ("toml", GOOD.replace('"en"', '"english please"'), "variant english please: .*tag"),
        ("toml", 'filters = {groups = ["Nobody"]}\n' + GOOD, "no group named Nobody"),
        ("json", GOOD, "toml or yaml"),
    ],
)
def test_bad_campaign_files_are_refused_clearly_and_create_nothing(app, fmt, text, message):
    make_list("partners", "Partners")
    before = campaigns_count()
    with pytest.raises(InvalidInput, match=message):
        campaign_files.import_text(text, fmt)
    assert campaigns_count() == before


def test_cli_exports_and_imports_files(app, tmp_path):
    original = full_campaign()
    runner = app.test_cli_runner()
    exported = runner.invoke(args=["campaigns", "export", str(original.id), "--format", "yaml"])
    assert exported.exit_code == 0, exported.output
    path = tmp_path / "call.yml"
    path.write_text(exported.output, encoding="utf-8")
    imported = runner.invoke(args=["campaigns", "import", str(path)])
    assert imported.exit_code == 0, imported.output
    assert "created as a draft" in imported.output
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"name = \xff")
    refused = runner.invoke(args=["campaigns", "import", str(bad)])
    assert refused.exit_code == 1 and "UTF-8" in refused.output
