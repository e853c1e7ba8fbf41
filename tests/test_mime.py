"""The assembled bytes are a well-formed message, and no value can add a header."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

from emails.mime import build_message, fold_base64, format_address


def build(
    subject: str = "Hello",
    name: str = "Ann",
    text: str = "Text",
    html: str = "<p>Hi</p>",
    sender: str = "News <news@example.org>",
) -> bytes:
    return build_message(
        sender=sender,
        recipient=format_address(name, "ann@example.org"),
        subject=subject,
        text=text,
        html=html,
        message_id="<abc@example.org>",
        date=datetime(2025, 2, 24, 9, 0, tzinfo=UTC),
        extra_headers={"Content-Language": "uk", "List-Id": "<partners.example.org>"},
    )


def parse(data: bytes):
    return BytesParser(policy=policy.default).parsebytes(data)


def test_message_parses_with_both_parts_and_no_defects():
    message = parse(build(text="Привіт", html="<p>Привіт</p>"))
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content() == "Привіт"
    assert message.get_body(("html",)).get_content() == "<p>Привіт</p>"
    assert all(not part.defects for part in message.walk())
    assert message["Date"].datetime == datetime(2025, 2, 24, 9, 0, tzinfo=UTC)


def test_crlf_and_nul_in_subject_and_names_never_add_a_header():
    data = build(
        subject="Hi\r\nBcc: victim@example.org",
        name="Eve\r\nCc: x@example.org\0",
        sender="Eve\nReply-To: evil@example.org <news@example.org>",
    )
    message = parse(data)
    assert message["Bcc"] is None and message["Cc"] is None and message["Reply-To"] is None
    assert message["Subject"] == "Hi Bcc: victim@example.org"
    assert b"\0" not in data
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(line[:1] in b" \t" or b":" in line for line in head.split(b"\r\n"))


def test_long_non_ascii_subject_round_trips_within_line_limits():
    subject = "Заклик до тижня дій: 24 лютого – 3 березня " * 10
    data = build(subject=subject)
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert parse(data)["Subject"] == " ".join(subject.split())


def test_non_ascii_display_name_is_encoded():
    message = parse(build(name="Олена Петренко"))
    assert message["To"].addresses[0].display_name == "Олена Петренко"
    assert message["To"].addresses[0].addr_spec == "ann@example.org"


def test_base64_lines_are_folded_at_76_characters_whatever_the_length():
    for length in (0, 1, 75, 76, 77, 151, 152, 153, 3 * 76, 40_000):
        encoded = bytes(65 + n % 26 for n in range(length))
        expected = b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, length, 76))
        assert fold_base64(encoded) == (expected or b"\r\n")
