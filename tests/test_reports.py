"""Report-back: the personal link in a message opens a form in the reader's language; what
a group sends is checked, kept with its group, and moderated in the panel."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.accounts import users
from app.extensions import db
from app.models import Report, ReportStatus
from tests.support.messages import report_path
from tests.support.panel import Client

GOOD = {
    "title": "Вечір солідарності",
    "event_date": "2027-02-24",
    "place": "Львів",
    "links": "https://photos.example.org/1\nhttps://video.example.org/2",
    "text": "Прийшло 80 людей.\nЗібрали 12 000 грн.",
}


def test_a_group_reports_its_action_in_its_own_language(app):
    path, campaign, kyiv = report_path()
    client = app.test_client(use_cookies=False)
    form = client.get(path)
    assert form.status_code == 200 and "Розкажіть про вашу акцію" in form.get_data(as_text=True)
    sent = client.post(path, data=GOOD)
    assert sent.status_code == 200 and "Дякуємо!" in sent.get_data(as_text=True)
    report = db.session.scalars(select(Report)).one()
    assert (report.campaign_id, report.group_id, report.language) == (campaign.id, kyiv.id, "uk")
    assert report.event_date == date(2027, 2, 24) and report.place == "Львів"
    assert report.links == ["https://photos.example.org/1", "https://video.example.org/2"]
    assert report.status == ReportStatus.PENDING


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": "  "}, "Give your action a title."),
        ({"title": "x" * 201}, "longer than 200"),
        ({"event_date": "24/02/2027"}, "is not a date such as 2027-03-01"),
        ({"links": "javascript:alert(1)"}, "is not a web address"),
        ({"links": "https://a.example.org\nfile:///etc/passwd"}, "is not a web address"),
        ({"links": "\n".join(f"https://e.example.org/{n}" for n in range(11))}, "At most 10"),
        ({"text": "x" * 5001}, "longer than 5000"),
    ],
)
def test_bad_reports_are_refused_clearly_and_keep_what_was_typed(app, change, message):
    path, _campaign, _group = report_path("en")
    response = app.test_client().post(path, data={**GOOD, **change})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page.replace("&#39;", "'")
    kept = "place" if "text" in change else "text"
    assert GOOD[kept] in page  # nothing typed is lost
    assert db.session.scalars(select(Report)).all() == []


def test_a_forged_or_cut_link_is_refused(app):
    path, _campaign, _group = report_path()
    client = app.test_client()
    assert client.get(path[:-3]).status_code == 400
    assert client.post(path.replace("/r/", "/r/x"), data=GOOD).status_code == 400
    assert db.session.scalars(select(Report)).all() == []


def test_organisers_read_and_moderate_reports(app):
    path, campaign, _group = report_path()
    app.test_client().post(path, data=GOOD)
    users.create_user("organiser@example.org", "correct horse battery", "owner")
    client = Client(app)
    page = client.get(f"/campaigns/{campaign.id}/reports").get_data(as_text=True)
    assert "Вечір солідарності" in page and "Kyiv mutual aid" in page
    assert 'rel="noopener noreferrer nofollow"' in page
    report = db.session.scalars(select(Report)).one()
    client.post(f"/reports/{report.id}/approved")
    db.session.expire_all()
    assert db.session.get(Report, report.id).status == ReportStatus.APPROVED
