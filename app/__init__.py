"""Sijill (سجل): the Ministry of Labour's back office, on Flask-AppBuilder."""
import logging
import os
from pathlib import Path

from flask import Flask

from .extensions import appbuilder, csrf, db, migrate

APP_DIR = Path(__file__).resolve().parent


def create_app(config_object="config", **overrides):
    app = Flask(__name__, instance_path=str(Path(os.environ.get(
        "SIJILL_INSTANCE_DIR", APP_DIR.parent / "instance")).resolve()))
    app.config.from_object(config_object)
    app.config.update(overrides)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=app.config.get("LOG_LEVEL", "INFO"))
    logging.getLogger("flask_appbuilder").setLevel(logging.WARNING)

    from . import audit, rules, scope  # noqa: F401  (session-wide listeners)
    from . import duplicates, imports, occupation_match  # noqa: F401  (their tables)

    from . import passwords
    app.config.setdefault("FAB_PASSWORD_COMPLEXITY_VALIDATOR", passwords.validate)

    with app.app_context():
        db.init_app(app)
        migrate.init_app(app, db, directory=str(APP_DIR.parent / "migrations"))
        appbuilder.init_app(app, db.session)
        from . import views  # noqa: F401  (registers every screen)
        from . import api  # noqa: F401  (registers every REST resource)
        appbuilder.post_init()
        csrf.init_app(app)
        # The REST API authenticates by a bearer token (JWT or API key), never
        # by the browser's cookie, so a forged cross-site request carries no
        # credential: CSRF tokens are for the cookie-authenticated screens.
        for api_view in appbuilder.baseviews:
            if getattr(api_view, "resource_name", None) or type(api_view).__name__.endswith("Api"):
                csrf.exempt(api_view.blueprint)
        from .web import install as install_web
        install_web(app)
        from . import verify
        verify.install(app, csrf)  # the public verification page (no login)
        from . import api_errors, api_limits
        api_errors.install(app)  # one JSON error shape under /api/v1
        api_limits.install(app)  # per-client rate limit
        from .cli import sijill
        app.cli.add_command(sijill)
        from . import production
        production.check(app, db)
    from .jobs import init_scheduler
    init_scheduler(app)  # only with SCHEDULER_ENABLED, and never in a CLI command
    return app

