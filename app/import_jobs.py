"""The web page's commit of a long file, in a background thread.

A file of more than ``IMPORT_BACKGROUND_ROWS`` rows is not committed inside
the request (a proxy would time out and the user would see nothing): the
request makes the ``import_batch`` row, starts a thread and answers at
once with a page that polls ``/imports/progress/<id>`` (JSON read from the
batch row: rows done of rows expected, status, counts). The thread runs the
same ``imports.run`` as the CLI, in batches with the checkpoint, so a
crash or restart loses at most one batch and committing the file again
resumes after the checkpoint.

The thread acts inside a request context of its own carrying the user, so
the directorate scope and the audit trail see that user, exactly as in
the request that started it.
"""
import threading

from flask import current_app, g

from . import imports
from .extensions import db
from .models import Directorate

_threads = {}  # batch id → thread, so tests (and a shutdown) can wait for them


def expected_rows(data, file_name):
    """Rows to come, for the progress bar: counting lines is cheap next to
    validating them; an XLSX is counted by reading it once."""
    if file_name.lower().endswith(".xlsx") or data[:2] == b"PK":
        return max(sum(1 for _ in imports.read_rows(data, file_name)) - 1, 0)
    return max(data.count(b"\n") - 1, 0)


def start(kind, data, file_name, directorate, user):
    """Make the batch row, start the thread; returns the batch id."""
    batch = imports.ImportBatch(kind=kind, file_name=file_name[:300], file_hash=imports.file_hash(data),
                                directorate_id=directorate.id, user_id=getattr(user, "id", None),
                                status=imports.RUNNING, rows_expected=expected_rows(data, file_name))
    previous = db.session.scalar(db.select(imports.ImportBatch).where(
        imports.ImportBatch.file_hash == batch.file_hash, imports.ImportBatch.kind == kind,
        imports.ImportBatch.directorate_id == directorate.id,
        imports.ImportBatch.status.in_((imports.RUNNING, imports.FAILED)))
        .order_by(imports.ImportBatch.id.desc()).limit(1))
    if previous is not None:  # a failed (or interrupted) commit of this file: resume it
        running = _threads.get(previous.id)
        if running is not None and running.is_alive():
            return previous.id  # committed twice while it runs: show the run under way
        previous.rows_expected = batch.rows_expected
        batch = previous
    else:
        db.session.add(batch)
    db.session.commit()
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run, name=f"import-{batch.id}", daemon=True,
                              args=(app, batch.id, kind, data, file_name, directorate.id, user.id,
                                    _remote_addr()))
    _threads[batch.id] = thread
    thread.start()
    return batch.id


def _remote_addr():
    from flask import request
    return request.remote_addr


def _run(app, batch_id, kind, data, file_name, directorate_id, user_id, ip):
    with app.test_request_context("/imports/background", environ_base={"REMOTE_ADDR": ip}):
        g.user = app.appbuilder.sm.get_user_by_id(user_id)
        try:
            directorate = db.session.get(Directorate, directorate_id)
            imports.run(db.session, kind, data, file_name, directorate, user=g.user, commit=True,
                        batch_size=app.config.get("IMPORT_BATCH_SIZE", 1000), batch_id=batch_id)
        except Exception:  # noqa: BLE001 - the batch row carries the failure to the page
            app.logger.exception("background import %s failed", batch_id)
            db.session.rollback()
            batch = db.session.get(imports.ImportBatch, batch_id)
            if batch is not None and batch.status == imports.RUNNING:
                batch.status = imports.FAILED
                db.session.commit()
        finally:
            db.session.remove()


def wait(batch_id, timeout=60):
    thread = _threads.get(batch_id)
    if thread is not None:
        thread.join(timeout)


def progress(batch):
    expected = batch.rows_expected or 0
    done = max((batch.rows_done or 1) - 1, 0)  # rows_done is a file row number (header = 1)
    if batch.status == imports.DONE:
        done = expected = batch.rows_total or 0  # the count of lines included empty ones
    return {
        "id": batch.id, "status": batch.status, "rows_expected": expected, "rows_done": done,
        "percent": round(100.0 * done / expected, 1) if expected else (100.0 if batch.status == imports.DONE else 0.0),
        "created": batch.created, "updated": batch.updated, "unchanged": batch.unchanged,
        "errors": batch.errors, "message": batch.message if batch.status == imports.FAILED else None,
    }
