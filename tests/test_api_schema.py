"""Property-based run of the REST API against its own OpenAPI description
(schemathesis, in-process through WSGI: no server).

Every operation of /api/v1/_openapi is called with generated input, with
the rate limit off: reads as a ministry admin (who reaches every resource,
so inputs are not all stopped at 403), writes as Cairo's manager (whose
writes stay in Cairo and who cannot touch reference data: an admin's random
POST/PUT/DELETE would add skill levels or delete a directorate that later
runs on the same PostgreSQL database rely on). conftest runs this test last. No answer may be a 5xx, and each must
match the status codes, content type and schema the description declares.
The number of cases tried is printed (pytest -s shows it).
"""
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from tests.conftest import PASSWORD

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 12
# Logging out would end the admin's token for the cases after it.
SKIP = {("POST", "/api/v1/security/logout")}


def _summary(exc):
    """The failure's title and first message line, without the long payload."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    titles = [line for line in lines if line.startswith("- ")]
    curl = [line for line in lines if line.startswith("curl ")]
    return "; ".join(titles) + " | " + " ".join(lines[titles and lines.index(titles[0]) + 1:][:3])[:300] + \
        (" | " + curl[0][:700] if curl else "")


def _token(app, username):
    r = app.test_client().post("/api/v1/security/login",
                               json={"username": username, "password": PASSWORD, "provider": "db"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["access_token"]


def test_api_matches_its_openapi_description(app):
    with app.app_context():
        reader = {"Authorization": f"Bearer {_token(app, 'admin')}"}
        writer = {"Authorization": f"Bearer {_token(app, 'cairo_manager')}"}
        spec = app.test_client().get("/api/v1/_openapi", headers=reader)
        assert spec.status_code == 200
        schema = schemathesis.openapi.from_dict(spec.get_json())
        schema.app = app
        operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if (op.method.upper(), op.path) not in SKIP]
    assert len(operations) > 40, "the description lists every resource"
    tried, failures = [0], []
    started = time.perf_counter()
    for operation in operations:
        headers = reader if operation.method.upper() == "GET" else writer

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def run(case):
            tried[0] += 1
            with app.app_context():
                response = case.call(headers=headers)
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — collected, reported below
                failures.append(f"{operation.method.upper()} {operation.path}: {_summary(exc)}")
        run()
    elapsed = time.perf_counter() - started
    print(f"\nschemathesis: {tried[0]} cases over {len(operations)} operations in {elapsed:.1f} s")
    if failures:
        import pathlib
        out = pathlib.Path("test-output")
        out.mkdir(exist_ok=True)
        (out / "schemathesis-failures.txt").write_text("\n".join(sorted(set(failures))))
    assert not failures, f"{len(failures)} failing cases:\n" + "\n\n".join(sorted(set(failures))[:15])
