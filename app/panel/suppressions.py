"""Panel page for the suppression list and blocked domains."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.audience import suppressions as service
from app.errors import InvalidInput, TocsinError
from app.panel import blueprint, privacy
from app.panel.forms import DomainForm, ReasonForm, SuppressForm, UnsuppressForm


@blueprint.get("/suppressions")
def suppression_list() -> ResponseReturnValue:
    """Recent suppressions, an address check, and the blocked domains. The check answers
    whether an address is suppressed, so it is for editors and owners only."""
    check, address = None, request.args.get("address", "").strip()
    if address and not privacy.sees_people():
        flash("Checking an address is for editors and owners.", "error")
        address = ""
    if address:
        try:
            check = service.check_address(address)
        except InvalidInput as exc:
            flash(str(exc), "error")
    reason = request.args.get("reason", "")
    try:
        rows = service.recent_suppressions(request.args.get("before", type=int), reason)
    except InvalidInput as exc:
        flash(str(exc), "error")
        rows, reason = service.recent_suppressions(), ""
    return render_template(
        "panel/suppressions.html",
        rows=rows,
        reason=reason,
        check=check,
        address=address,
        add=SuppressForm(),
        remove=UnsuppressForm(address=address),
        domain=DomainForm(),
        unblock=ReasonForm(),
        domains=service.blocked_domains(),
        page_size=service.SUPPRESSIONS_PAGE,
    )


def _back(address: str | None = None) -> ResponseReturnValue:
    return redirect(url_for("panel.suppression_list", address=address))


@blueprint.post("/suppressions")
def suppression_add() -> ResponseReturnValue:
    """Suppress an address by hand (its subscriber becomes blocklisted)."""
    form = SuppressForm()
    if not form.validate_on_submit():
        flash("Give the address to suppress.", "error")
        return _back()
    try:
        new = service.suppress_address(form.address.data or "", form.note.data or "")
    except TocsinError as exc:
        flash(str(exc), "error")
        return _back()
    flash("Suppressed." if new else "That address was suppressed already.", "info")
    return _back(address=form.address.data or "")


@blueprint.post("/suppressions/remove")
def suppression_remove() -> ResponseReturnValue:
    """Take an address off the suppression list, with a reason."""
    form = UnsuppressForm()
    if not form.validate_on_submit():
        flash("Give the address to take off the list.", "error")
        return _back()
    try:
        was = service.unsuppress_address(
            form.address.data or "", form.reason.data or "", current_user.email
        )
    except TocsinError as exc:
        flash(str(exc), "error")
        return _back(address=form.address.data or "")
    flash(
        f"Removed (it was suppressed for: {was.value}). Their subscriber stays blocklisted "
        "until you make them active.",
        "info",
    )
    return _back(address=form.address.data or "")


@blueprint.post("/blocked-domains")
def blocked_domain_add() -> ResponseReturnValue:
    """Block a domain; its subscribers become blocklisted."""
    form = DomainForm()
    if not form.validate_on_submit():
        flash("Give the domain to block.", "error")
        return _back()
    try:
        blocked = service.block_domain(form.domain.data or "", form.reason.data or "")
    except TocsinError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Blocked; {blocked} subscribers there are now blocklisted.", "info")
    return _back()


@blueprint.post("/blocked-domains/<int:domain_id>/remove")
def blocked_domain_remove(domain_id: int) -> ResponseReturnValue:
    """Unblock a domain, with a reason (its blocklisted subscribers stay blocklisted)."""
    form = ReasonForm()
    try:
        if not form.validate_on_submit():
            raise InvalidInput("the form expired: try again")
        domain = service.remove_blocked_domain(
            domain_id, form.reason.data or "", current_user.email
        )
    except TocsinError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Unblocked {domain}; its blocklisted subscribers stay blocklisted.", "info")
    return _back()
