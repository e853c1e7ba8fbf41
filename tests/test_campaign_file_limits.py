"""Campaign files are small, plain data: a YAML alias bomb, an oversized file and nesting too
deep are refused at once with a clear message, in the panel and on the command line, and a
normal export still imports."""

from __future__ import annotations

import io
import time
import tracemalloc

import pytest
from sqlalchemy import func, select

from app.accounts import users
from app.campaigns import campaign_files
from app.errors import InvalidInput
from app.extensions import db
from app.models import Campaign
from tests.support.factories import full_campaign
from tests.support.panel import Client


def alias_bomb(levels: int = 9) -> str:
    """The classic "billion laughs": each level repeats the one before nine times."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
    return "\n".join(lines) + "\nname: Bomb\n"


BOMB = alias_bomb()


def campaigns_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Campaign)) or 0


def test_the_alias_bomb_is_refused_in_well_under_a_second_with_little_memory(app):
    assert len(BOMB.encode()) < 600
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match="anchors and aliases .* are not allowed") as refused:
        campaign_files.import_text(BOMB, "yaml")
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.2 and peak < 5_000_000, (elapsed, peak)
    assert "at line 1" in str(refused.value)
    assert campaigns_count() == 0


@pytest.mark.parametrize(
    "text",
    [
        "name: &n Spring\nlists: []\n",  # an anchor alone
        "base: &b {name: x}\nname: *b\n",
        "name: Spring\nvariants:\n  - &v {language: en}\n  - *v\n",
        "<<: {name: x}\nname: y\n",  # a merge key without an alias is just a key
    ],
)
def test_any_anchor_or_alias_is_refused(app, text):
    with pytest.raises(InvalidInput):
        campaign_files.import_text(text, "yaml")
    assert campaigns_count() == 0


@pytest.mark.parametrize("fmt", ["toml", "yaml"])
def test_a_file_over_a_megabyte_is_refused_before_it_is_read(app, fmt):
    body = "x" * (campaign_files.MAX_FILE_BYTES + 10)
    text = f'name = "{body}"\n' if fmt == "toml" else f"name: {body}\n"
    with pytest.raises(InvalidInput, match=r"at most 1 MB \(1,000,000 bytes\)"):
        campaign_files.import_text(text, fmt)
    with pytest.raises(InvalidInput, match=r"at most 1 MB"):
        campaign_files.import_file(text.encode(), fmt)
    assert campaigns_count() == 0


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("toml", "name = " + "[" * 50_000, "nested too deeply"),
        ("yaml", "name: " + "[" * 50_000, "nested too deeply"),
        ("toml", "name = " + "9" * 5000, "not valid TOML"),
        ("yaml", "name: " + "9" * 5000, "not valid YAML"),
        ("yaml", "lists: [{a: 1}]\nname: x\n", "lists must be a list of list slugs"),
    ],
)
def test_other_hostile_shapes_get_a_clear_message(app, fmt, text, message):
    with pytest.raises(InvalidInput, match=message):
        campaign_files.import_text(text, fmt)
    assert campaigns_count() == 0


@pytest.mark.parametrize("fmt", ["toml", "yaml"])
def test_a_normal_export_still_imports(app, fmt):
    original = full_campaign()
    copy = campaign_files.import_file(campaign_files.export(original, fmt).encode(), fmt)
    assert campaign_files.to_data(copy) == campaign_files.to_data(original)


def test_the_panel_upload_refuses_the_bomb_and_a_large_file(app):
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = Client(app)
    for name, data in [
        ("bomb.yaml", BOMB.encode()),
        ("big.toml", b'name = "' + b"x" * 3_000_000 + b'"\n'),
        ("latin.toml", b'name = "caf\xe9"\n'),
    ]:
        started = time.perf_counter()
        page = client.post(
            "/campaigns/import",
            {"file": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
            follow_redirects=True,
        ).get_data(as_text=True)
        assert time.perf_counter() - started < 1, name
        assert "Nothing was imported" in page, name
        assert {
            "bomb.yaml": "anchors and aliases (&amp; and *) are not allowed",
            "big.toml": "at most 1 MB",
            "latin.toml": "campaign files are UTF-8 text (byte 12 is not)",
        }[name] in page
    assert campaigns_count() == 0


def test_the_command_line_refuses_them_too(app, tmp_path):
    runner = app.test_cli_runner()
    bomb, big = tmp_path / "bomb.yml", tmp_path / "big.yaml"
    bomb.write_text(BOMB, encoding="utf-8")
    big.write_text("name: " + "x" * 2_000_000 + "\n", encoding="utf-8")
    refused = runner.invoke(args=["campaigns", "import", str(bomb)])
    assert refused.exit_code == 1 and "anchors and aliases" in refused.output
    refused = runner.invoke(args=["campaigns", "import", str(big)])
    assert refused.exit_code == 1 and "at most 1 MB" in refused.output
    assert campaigns_count() == 0
