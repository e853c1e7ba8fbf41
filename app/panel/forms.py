"""Panel forms (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from flask import flash
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)

# types-WTForms describes WTForms 3.2, before SelectChoice (3.3).
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, Optional, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.audience.bulk import BulkAction
from app.errors import InvalidInput, TocsinError
from app.languages import confusion, normalize_tag
from emails.mime import sender_control_characters


def choices(pairs: Sequence[tuple[object, str]]) -> list[SelectChoice]:
    """Return select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class Chosen:
    """At least one box ticked. Unlike ``DataRequired`` it sets no ``required`` flag: on
    checkboxes that flag would make the browser demand every one of them."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form: Form, field: Field) -> None:
        if not field.data:
            raise StopValidation(self.message)


class LanguageTags:
    """A field of registered language tags: one, or (``many``) several separated by spaces
    or commas.
    An unknown tag is refused with the tag probably meant (``ua``: did you mean uk?)."""

    def __init__(self, *, many: bool = False) -> None:
        self.many = many

    def __call__(self, form: Form, field: StringField) -> None:
        value = field.data or ""
        for tag in _tags(value) if self.many else [value] if value.strip() else []:
            try:
                normalize_tag(tag)
            except InvalidInput as exc:
                raise ValidationError(str(exc)) from None


def _tags(value: str) -> list[str]:
    """Tags as typed in one field: separated by spaces or commas."""
    return [tag for tag in re.split(r"[\s,]+", value) if tag]


def flash_language_notes(*values: str) -> None:
    """After a save: a warning for each registered tag that is a common mistake (``se`` is
    Northern Sami, not Swedish); ``values`` are fields of one or more tags."""
    for value in values:
        for tag in _tags(value or ""):
            try:
                note = confusion(normalize_tag(tag))
            except InvalidInput:
                continue
            if note:
                flash(note, "warning")


def error_at_field(form: Form, exc: TocsinError, *, names: Mapping[str, str] | None = None) -> bool:
    """Put a service's refusal beside the form field it names (``names`` maps a service's
    field name to the form's where they differ); False when the form has no such field."""
    name = getattr(exc, "field", None)
    name = (names or {}).get(name, name) if name else None
    if name is None or name not in form:
        return False
    field = form[name]
    field.errors = [*field.errors, str(exc)]
    return True


def show_error(form: Form, exc: TocsinError, *, names: Mapping[str, str] | None = None) -> None:
    """Show a service's refusal at the top of the page and, when it names one of the form's
    fields, beside that field too; what was typed stays in the form."""
    flash(str(exc), "error")
    error_at_field(form, exc, names=names)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class ActionForm(FlaskForm):
    """A button: nothing but the CSRF token."""


class ListForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(max=64)])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional()])
    visibility = SelectField(
        "Visibility", choices=choices([("private", "Private"), ("public", "Public")])
    )
    optin = SelectField(
        "Opt-in", choices=choices([("double", "Double opt-in"), ("single", "Single opt-in")])
    )
    default_language = StringField(
        "Default language",
        default="en",
        description="Used when neither the reader nor their browser asks for a language "
        "Tocsin speaks; a BCP 47 tag such as uk or pt-BR.",
        validators=[DataRequired(), Length(max=35), LanguageTags()],
    )


class ListWordingForm(Form):
    """One row of a list's name and description in another language (no CSRF of its own)."""

    language = StringField("Language", validators=[Optional(), Length(max=35)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional()])


class ListSettingsForm(ListForm):
    """A list's settings, with its name and description per language (one blank row more)."""

    wordings = FieldList(FormField(ListWordingForm))


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as a row of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SubscriberForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    language = StringField(
        "Language", default="en", validators=[DataRequired(), Length(max=35), LanguageTags()]
    )
    group = SelectField("Group", coerce=int, default=0)
    lists = CheckboxesField("Lists", coerce=int, validators=[Chosen("Choose at least one list.")])


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    lists = SelectMultipleField("Send to lists", coerce=int, validators=[DataRequired()])
    default_language = StringField(
        "Default language", default="en", validators=[DataRequired(), LanguageTags()]
    )
    fallbacks = StringField(
        "Fallback chain",
        validators=[Optional(), LanguageTags(many=True)],
        description="Languages to try, in order, e.g. 'pt es en'.",
    )
    smtp_server = StringField(
        "SMTP server",
        validators=[Optional(), Length(max=64)],
        description="One of the configured servers; empty: any, by weight.",
    )
    from_address = StringField(
        "From",
        validators=[Optional(), Length(max=400)],
        description="Leave empty for the default sender.",
    )
    template = SelectField("Layout", coerce=int, default=0)
    filter_languages = StringField(
        "Only these languages",
        validators=[Optional(), Length(max=400), LanguageTags(many=True)],
        description="Language tags, e.g. 'uk pl'; 'pt' also takes 'pt-BR'. Empty: all.",
    )
    filter_countries = StringField(
        "Only these countries",
        validators=[Optional(), Length(max=400)],
        description="Two-letter codes, e.g. 'UA PL'; a subscriber's own, else their group's.",
    )
    filter_groups = SelectMultipleField("Only these groups", coerce=int)
    archive = BooleanField(
        "Publish in the public archive", description="One page per language and an Atom feed."
    )

    def validate_from_address(self, field: StringField) -> None:
        """A sender with a line break, NUL or other control character is refused as typed."""
        if bad := sender_control_characters(field.data or ""):
            raise ValidationError(
                f"From: no line breaks, NUL or other control characters (found {', '.join(bad)})"
            )


NOT_READY_CHOICES = [
    ("", "No variant is waiting"),
    ("hold", "Hold them back (they get nothing from this campaign)"),
    ("fallback", "Send them the fallback language"),
]


class SendForm(FlaskForm):
    not_ready = RadioField(
        "Recipients whose variant is not ready",
        choices=choices(NOT_READY_CHOICES),
        default="",
        validators=[Optional()],
    )


class ScheduleForm(SendForm):
    when = DateTimeLocalField("Start at", format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)])


class ConfirmSendForm(SendForm):
    """Send now: the choice made on the campaign page and the token of the plan shown."""

    plan = HiddenField(validators=[DataRequired()])


class ConfirmScheduleForm(ScheduleForm):
    """Schedule: the time, zone and choice made on the campaign page, and the plan's token."""

    plan = HiddenField(validators=[DataRequired()])


class TestSendForm(FlaskForm):
    addresses = TextAreaField(
        "Send a test to",
        validators=[DataRequired()],
        description="Addresses, one per line or separated by commas (at most 20).",
    )
    languages = CheckboxesField("Languages", description="None chosen: every language.")


class CampaignImportForm(FlaskForm):
    file = FileField("Campaign file (.toml, .yaml)", validators=[FileRequired()])


class TemplateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    html = TextAreaField(
        "HTML layout",
        validators=[DataRequired()],
        description="Sandboxed Jinja; {{ content }} marks where the body goes.",
    )


class AccountForm(FlaskForm):
    timezone = StringField(
        "Your time zone",
        validators=[DataRequired(), Length(max=64)],
        description="An IANA zone such as Europe/Kyiv; the panel shows times in it.",
    )


class PasswordForm(FlaskForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired()],
        render_kw={"autocomplete": "current-password"},
    )
    new = PasswordField(
        "New password",
        validators=[DataRequired()],
        description="At least 10 characters. Your other sessions end when it changes.",
        render_kw={"autocomplete": "new-password"},
    )
    confirmation = PasswordField(
        "New password again",
        validators=[DataRequired()],
        render_kw={"autocomplete": "new-password"},
    )


class VariantForm(FlaskForm):
    language = StringField("Language", validators=[DataRequired(), Length(max=35), LanguageTags()])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=500)])
    preheader = StringField("Preheader", validators=[Optional(), Length(max=500)])
    body_format = SelectField(
        "Format", choices=choices([("markdown", "Markdown"), ("html", "HTML")])
    )
    body = TextAreaField("Body", validators=[DataRequired()])
    ready = BooleanField("Ready to send", default=True)
    footer_reason = StringField("Footer: why they receive it", validators=[Length(max=500)])
    unsubscribe_label = StringField("Footer: Unsubscribe", validators=[Length(max=500)])
    preferences_label = StringField("Footer: Preferences", validators=[Length(max=500)])


class SystemEmailForm(FlaskForm):
    subject = StringField("Subject", validators=[DataRequired(), Length(max=500)])
    body = TextAreaField("Body (Markdown)", validators=[DataRequired()])


class SubscriberEditForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    language = StringField("Language", validators=[DataRequired(), Length(max=35), LanguageTags()])
    country = StringField(
        "Country", validators=[Optional(), Length(max=40)], description="Two letters, e.g. UA."
    )
    group = SelectField("Group", coerce=int, default=0)
    status = SelectField(
        "Status",
        choices=choices([(s, s) for s in ("active", "blocklisted", "bounced", "complained")]),
    )
    attributes = TextAreaField(
        "Attributes", validators=[Optional()], description='A JSON object, e.g. {"city": "Lviv"}.'
    )
    lists = CheckboxesField("Lists", coerce=int, description="Unchecked: unsubscribed.")


class GroupForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    country = StringField(
        "Country", validators=[Optional(), Length(max=40)], description="Two letters, e.g. UA."
    )
    city = StringField("City", validators=[Optional(), Length(max=200)])
    website = StringField(
        "Website", validators=[Optional(), Length(max=500)], description="https://…"
    )
    languages = StringField(
        "Languages",
        validators=[Optional(), Length(max=400), LanguageTags(many=True)],
        description="Tags, e.g. 'uk en'.",
    )
    notes = TextAreaField("Notes", validators=[Optional()])


class MergeForm(FlaskForm):
    other = SelectField("Group to merge into this one", coerce=int)


class SuppressForm(FlaskForm):
    address = StringField("Address", validators=[DataRequired(), Length(max=320)])
    note = StringField("Note", validators=[Optional(), Length(max=1000)])


class UnsuppressForm(FlaskForm):
    address = StringField("Address", validators=[DataRequired(), Length(max=320)])
    reason = StringField(
        "Reason", validators=[Optional(), Length(max=1000)], description="Kept in the log."
    )


class DomainForm(FlaskForm):
    domain = StringField("Domain", validators=[DataRequired(), Length(max=255)])
    reason = StringField("Reason", validators=[Optional(), Length(max=1000)])


class ReasonForm(FlaskForm):
    reason = StringField("Reason", validators=[Optional(), Length(max=1000)])


# --- The subscribers page's bulk action: who (the filter) and what (the target) -------------

BULK_LABELS = {
    BulkAction.ADD_TO_LIST: "Add to list",
    BulkAction.REMOVE_FROM_LIST: "Remove from list",
    BulkAction.CHANGE_LANGUAGE: "Change language",
    BulkAction.BLOCKLIST: "Blocklist (and suppress their addresses)",
    BulkAction.DELETE: "Delete",
}


class BulkFilterFields(Form):
    """The page's filter as the bulk form carries it: ``filter-q``, ``filter-list``,
    ``filter-language``… (``SubscriberFilter.from_args`` reads and checks the values)."""

    q = HiddenField()
    by = HiddenField()
    list = HiddenField()
    language = HiddenField()
    country = HiddenField()
    group = HiddenField()
    status = HiddenField()


class BulkTargetFields(Form):
    """What the action does and to what: ``action-kind``, ``action-list``,
    ``action-language`` (``bulk.BulkTarget.of`` checks them)."""

    kind = SelectField(
        "Action",
        choices=choices([(a.value, label) for a, label in BULK_LABELS.items()]),
        validate_choice=False,
    )
    list = SelectField("List (to add to or remove from)", validate_choice=False)
    language = StringField("New language", validators=[Optional(), Length(max=35)])


class BulkForm(FlaskForm):
    """A bulk action on the subscribers page. The filter and the target live in their own
    namespaces (``filter-…``, ``action-…``): no field of one can ever be read as the other,
    however the page or a hand-made request builds the form. ``scope`` is ``selected`` (the
    checked ``ids``) or ``all`` (the whole filter)."""

    scope = HiddenField(default="selected")
    filter = FormField(BulkFilterFields)
    action = FormField(BulkTargetFields)
    confirmed = HiddenField()

    # Names a bulk form once had, shared by the filter and the target: a request holding one
    # comes from a page of before the namespaces, and is refused rather than guessed at.
    BARE_NAMES = frozenset({"action", "q", "by", "list", "language", "country", "group", "status"})
