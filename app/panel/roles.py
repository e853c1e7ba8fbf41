"""Who may see what in the panel, beyond the login every page needs.

Viewers see counts, not addresses: pages that show subscribers' addresses (exports, import
reports, the mail catcher) need an editor or owner.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user

P = ParamSpec("P")
R = TypeVar("R")


def editors_only(view: Callable[P, R]) -> Callable[P, R]:
    """Answer 403 to a viewer: the page shows addresses."""

    @functools.wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        if not current_user.can_edit:
            abort(403)
        return view(*args, **kwargs)

    return checked
