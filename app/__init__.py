"""Tocsin: a self-hosted, multilingual newsletter and mailing-list manager."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app: configuration, extensions, blueprints and CLI."""
    from app import config, database, i18n  # noqa: F401  database: the SQLite pragmas
    from app.extensions import babel, csrf, db, limiter, login_manager, migrate

    data_dir = os.environ.get("TOCSIN_DATA_DIR")
    app = Flask(__name__, instance_path=str(Path(data_dir).resolve()) if data_dir else None)
    app.config.update(config.defaults(app.instance_path))
    app.config.update(config.from_environment(os.environ))
    app.config.update(test_config or {})
    config.check(app.config)
    app.config["RATELIMIT_STORAGE_URI"] = config.rate_limit_storage(app.config)
    if app.config["PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        proxies = int(app.config["PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    from app import logs, private_files

    private_files.protect(app.config, app.instance_path)  # files 0600, folders 0700
    logs.install(app)  # no tokens in request logs; tocsin.audit heard
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True
    )
    login_manager.init_app(app)
    _harden(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)

    from app import cli, error_pages, panel, public

    app.register_blueprint(panel.blueprint)
    app.register_blueprint(public.blueprint)
    error_pages.init_app(app)
    cli.register(app)
    return app


def _harden(app: Flask) -> None:
    """Response headers, cookie flags and request-size limits (``app.security``); before
    the CSRF check, which is the first to read a form."""
    from app import security

    security.init_app(app)
