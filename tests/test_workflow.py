"""Maker–checker: the allowed transitions, who may take them, and serials."""
import os
import re
import threading

import pytest
from sqlalchemy import func, select

from app import workflow
from app.extensions import db
from app.models import AuditLog, Certificate, RuleViolation
from tests import factories as f

SERIAL = re.compile(r"^01-\d{4}-REG-\d{6}$")


def test_clerk_submits_manager_approves_with_serial(ctx):
    cert = f.certificate(f.citizen())
    f.issue(cert)
    assert cert.status == "issued" and SERIAL.match(cert.serial)
    assert cert.decided_by.username == "cairo_manager" and cert.issue_date
    steps = db.session.scalars(select(AuditLog.action).where(
        AuditLog.entity == "Certificate", AuditLog.record_id == cert.id).order_by(AuditLog.id)).all()
    assert steps == ["create", "submit", "approve"]


def test_submitter_cannot_approve(ctx):
    cert = f.certificate(f.citizen())
    workflow.apply(db.session, cert, "submit", user=f.user("cairo_manager"))
    db.session.commit()
    with pytest.raises(RuleViolation, match="لا يجوز لمن قدّم"):  # "The person who submitted cannot approve"
        workflow.apply(db.session, cert, "approve", user=f.user("cairo_manager"))
    db.session.rollback()
    assert db.session.get(Certificate, cert.id).status == "submitted"


@pytest.mark.parametrize("action", ["approve", "reject", "revoke", "expire"])
def test_draft_allows_only_submit(ctx, action):
    cert = f.certificate(f.citizen())
    with pytest.raises(RuleViolation):
        workflow.apply(db.session, cert, action, user=f.user("cairo_manager"), reason="x")
    db.session.rollback()
    assert db.session.get(Certificate, cert.id).status == "draft"


def test_reject_and_revoke_need_a_reason(ctx):
    cert = f.certificate(f.citizen())
    workflow.apply(db.session, cert, "submit", user=f.user("cairo_clerk"))
    with pytest.raises(RuleViolation, match="reason"):
        workflow.apply(db.session, cert, "reject", user=f.user("cairo_manager"), reason="  ")
    db.session.rollback()
    issued = f.issue(f.certificate(f.citizen()))
    with pytest.raises(RuleViolation, match="reason"):
        workflow.apply(db.session, issued, "revoke", user=f.user("cairo_manager"))
    db.session.rollback()
    workflow.apply(db.session, issued, "revoke", user=f.user("cairo_manager"), reason="بيانات غير صحيحة")
    db.session.commit()
    row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "Certificate",
                                                   AuditLog.record_id == issued.id, AuditLog.action == "revoke"))
    assert row.detail == "بيانات غير صحيحة" and row.username is not None or row.detail


def test_rejected_can_be_corrected_and_resubmitted(ctx):
    cert = f.certificate(f.citizen())
    workflow.apply(db.session, cert, "submit", user=f.user("cairo_clerk"))
    workflow.apply(db.session, cert, "reject", user=f.user("cairo_manager"), reason="ناقص")
    workflow.apply(db.session, cert, "submit", user=f.user("cairo_clerk"))
    db.session.commit()
    assert cert.status == "submitted"


def test_web_clerk_cannot_approve_manager_can(app, as_user, ctx):
    cert = f.certificate(f.citizen())
    clerk, manager = as_user("cairo_clerk"), as_user("cairo_manager")
    assert clerk.post(f"/certificateview/step/{cert.id}/submit").status_code == 302
    assert clerk.post(f"/certificateview/step/{cert.id}/approve").status_code == 403
    show = clerk.get(f"/certificateview/show/{cert.id}").get_data(as_text=True)
    assert "/step/%d/approve" % cert.id not in show  # no button the clerk cannot use
    assert manager.post(f"/certificateview/step/{cert.id}/approve").status_code == 302
    db.session.expire_all()
    assert db.session.get(Certificate, cert.id).status == "issued"


def test_web_reject_without_reason_changes_nothing(app, as_user, ctx):
    cert = f.certificate(f.citizen())
    as_user("cairo_clerk").post(f"/certificateview/step/{cert.id}/submit")
    r = as_user("cairo_manager").post(f"/certificateview/step/{cert.id}/reject", data={"reason": ""},
                                      follow_redirects=True)
    db.session.expire_all()
    assert db.session.get(Certificate, cert.id).status == "submitted"
    assert r.status_code == 200


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="concurrent approvals need PostgreSQL's row locks")
def test_concurrent_approvals_get_unique_gapless_serials(app):
    with app.app_context():
        ids = []
        for _ in range(200):
            cert = f.certificate(f.citizen("21"))
            workflow.apply(db.session, cert, "submit", user=f.user("giza_clerk"))
            ids.append(cert.id)
        db.session.commit()
        from app.models import SerialCounter
        start = db.session.scalar(select(func.coalesce(func.max(SerialCounter.last), 0)).where(
            SerialCounter.directorate_id == f.directorate("21").id, SerialCounter.doc_type == "REG"))
        manager_id = f.user("giza_manager").id
        db.session.remove()
    chunks = [ids[i::8] for i in range(8)]
    errors = []

    def approve(chunk):
        try:
            with app.app_context():
                from app.models import SijillUser
                manager = db.session.get(SijillUser, manager_id)
                for cert_id in chunk:
                    cert = db.session.get(Certificate, cert_id)
                    workflow.apply(db.session, cert, "approve", user=manager)
                    db.session.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=approve, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with app.app_context():
        serials = db.session.scalars(select(Certificate.serial).where(Certificate.id.in_(ids))).all()
        numbers = sorted(int(s.rsplit("-", 1)[1]) for s in serials)
        assert numbers == list(range(start + 1, start + 201))
