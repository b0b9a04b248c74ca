"""Test fixtures: one migrated database per run, on PostgreSQL when
TEST_DATABASE_URL is set, else a fresh SQLite file.

The environment is set before anything imports ``config``, so the app under
test really uses that database (checked by ``test_database_backend``).
"""
import os
import re
import tempfile

import pytest
from flask.testing import FlaskClient

_TMP = tempfile.mkdtemp(prefix="sijill-test-")
os.environ["SIJILL_INSTANCE_DIR"] = _TMP
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP}/test.db"
os.environ.setdefault("SECRET_KEY", "test-secret-key")

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402

PASSWORD = "Sijill@2026"


def pytest_collection_modifyitems(items):
    """The property-based API run (tests/test_api_schema.py) goes last: its
    random writes are not any other test's starting point."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_api_schema.py"))


class IsolatedClient(FlaskClient):
    """Each request in an app context of its own.

    Flask reuses an app context that is already pushed, so a request made
    inside a test's ``app_context()`` would share ``g`` (flask-login's cached
    user, the cached scope) with the test and with other clients' requests:
    a second user would silently act as the first."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _rate_key():
    """The login rate limit counts per client address; every test request
    comes from 127.0.0.1, so there each request is its own client. Tests of
    the limit itself send from another address (tests/test_security.py)."""
    from flask import request
    address = request.remote_addr or ""
    return os.urandom(8).hex() if address == "127.0.0.1" else address


@pytest.fixture(scope="session")
def app():
    # API_RATE_LIMIT_PER_MINUTE=0: the matrix makes hundreds of calls a minute;
    # tests/test_api.py turns the limit on where it tests it.
    app = create_app(TESTING=True, WTF_CSRF_ENABLED=False, DEMO_PASSWORD=PASSWORD, API_RATE_LIMIT_PER_MINUTE=0,
                     RATELIMIT_KEY_FUNC=_rate_key)
    app.test_client_class = IsolatedClient
    with app.app_context():
        from app import seed
        from app.cli import init
        runner = app.test_cli_runner()
        result = runner.invoke(init, [])
        assert result.exit_code == 0, result.output + repr(result.exception)
        seed.create_demo_users(PASSWORD)
    yield app


@pytest.fixture()
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()
        db.session.remove()


def login(app, username, password=PASSWORD):
    client = app.test_client()
    response = client.post("/login/", data={"username": username, "password": password})
    assert response.status_code == 302, f"login of {username} failed"
    return client


@pytest.fixture()
def as_user(app):
    clients = {}

    def get(username):
        if username not in clients:
            clients[username] = login(app, username)
        return clients[username]
    return get


def ids_in(html):
    return set(int(x) for x in re.findall(r'/show/(\d+)', html))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The count of hostile inputs tests/test_bad_input.py tried (issue 11)."""
    count = getattr(config, "sijill_bad_inputs", None)
    if count is not None:
        terminalreporter.write_sep("-", f"bad inputs tried: {count}")
