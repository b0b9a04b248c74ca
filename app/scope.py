"""The directorate scope, enforced in the SQLAlchemy session itself.

FAB's ``base_filters`` protect only the screens that remember to use them (its
bulk actions, ``session.get`` of a typed id and the REST API's foreign keys do
not). Here the rule lives one level lower, so every path inherits it:

* reads — ``do_orm_execute`` adds ``with_loader_criteria`` to every ORM
  SELECT, UPDATE and DELETE: a scoped model is limited to the user's
  directorate, and soft-deleted rows are hidden. Lists, show pages, counts,
  relation pickers, exports, PDFs, statistics and the API all go through it;
* writes — ``before_flush`` forces a new row into the user's directorate
  whatever the form or JSON said, refuses moving a row out of it, and refuses
  a reference (citizen, establishment, renewed permit…) to a row of another
  directorate.

Outside a request (CLI, scheduler, tests' setup) nothing is restricted. In a
request without a logged-in user nothing scoped is visible; the public
verification page opts out explicitly with ``unscoped()``.
"""
import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Optional

from flask import g, has_request_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, with_loader_criteria

from .models import Scoped, SoftDeleted


class ScopeViolation(Exception):
    """A write or read outside the user's directorate. Answered 403/404."""


@dataclass(frozen=True)
class Scope:
    directorate_id: Optional[int] = None  # None: every directorate
    deny: bool = False  # True: nothing scoped at all (anonymous request)

    @property
    def restricted(self):
        return self.deny or self.directorate_id is not None


EVERYTHING = Scope()
NOTHING = Scope(deny=True)
_forced: ContextVar[Optional[Scope]] = ContextVar("sijill_forced_scope", default=None)


def scope_of_user(user):
    if user is None or not getattr(user, "is_authenticated", False):
        return NOTHING
    directorate_id = getattr(user, "directorate_id", None)
    return Scope(directorate_id) if directorate_id else EVERYTHING


def current_scope():
    """The scope of whoever is acting now."""
    forced = _forced.get()
    if forced is not None:
        return forced
    if not has_request_context():
        return EVERYTHING
    if g.get("_sijill_resolving"):
        return EVERYTHING  # while the user row itself is being loaded
    g._sijill_resolving = True
    try:
        user = g.get("user")
        # g.user is flask-login's proxy (web) or the user FAB's JWT/API-key
        # loader put there; resolving it may load the user row.
        key = id(user._get_current_object()) if hasattr(user, "_get_current_object") else id(user)
        cached = g.get("_sijill_scope")
        if cached and cached[0] == key:
            return cached[1]
        scope = scope_of_user(user)
        g._sijill_scope = (key, scope)
        return scope
    finally:
        g._sijill_resolving = False


@contextlib.contextmanager
def acting_as(scope):
    """Run a block with an explicit scope (jobs acting for a directorate,
    tests, the public verification page with ``EVERYTHING``)."""
    token = _forced.set(scope)
    try:
        yield
    finally:
        _forced.reset(token)


def unscoped():
    return acting_as(EVERYTHING)


def _criteria_for(scope, include_deleted):
    options = []
    if not include_deleted:
        options.append(with_loader_criteria(
            SoftDeleted, lambda cls: cls.deleted_at.is_(None), include_aliases=True))
    if scope.deny:
        options.append(with_loader_criteria(
            Scoped, lambda cls: cls.directorate_id.is_(None), include_aliases=True))
    elif scope.directorate_id is not None:
        directorate_id = scope.directorate_id
        options.append(with_loader_criteria(
            Scoped, lambda cls: cls.directorate_id == directorate_id,
            include_aliases=True))
    return options


def _security_tables_only(state):
    mappers = state.all_mappers
    return bool(mappers) and all(m.class_.__module__.startswith("flask_appbuilder.security")
                                 or m.local_table.name.startswith("ab_") for m in mappers)


def scoped(statement, include_deleted=False, scope=None):
    """The statement limited to the acting user's scope (and live rows).
    Every ORM read gets this through ``_limit_reads``; code that hands SQL
    to the database itself (the COPY export) calls it directly."""
    criteria = _criteria_for(scope or current_scope(), include_deleted)
    return statement.options(*criteria) if criteria else statement


@event.listens_for(Session, "do_orm_execute")
def _limit_reads(state):
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if _security_tables_only(state):
        # The user, role and permission rows hold no citizen data; resolving
        # a scope for them would load the user row inside its own loading
        # (flask-login's loader is what asks), i.e. twice per request.
        return
    options = state.execution_options
    scope = EVERYTHING if options.get("sijill_unscoped") else None
    state.statement = scoped(state.statement, options.get("sijill_include_deleted", False), scope)


def _scoped_references(obj):
    """Many-to-one relationships of obj that point at another scoped row."""
    mapper = inspect(obj).mapper
    for rel in mapper.relationships:
        if rel.direction.name == "MANYTOONE" and issubclass(rel.mapper.class_, Scoped):
            yield rel


def _load_reference(session, obj, rel):
    target = getattr(obj, rel.key)
    if target is not None:
        return target
    fk = [getattr(obj, col.key) for col in rel.local_columns]
    if fk and fk[0] is not None:
        # unscoped on purpose: an id of another directorate must be refused
        # with a message, not silently read as "no reference".
        with unscoped():
            return session.get(rel.mapper.class_, fk[0])
    return None


def enforce_writes(session):
    """Called first thing in every flush by ``app.rules``."""
    scope = current_scope()
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, Scoped):
            continue
        if scope.deny:
            raise ScopeViolation("no scope")
        state = inspect(obj)
        if obj in session.deleted:
            if scope.directorate_id is not None and obj.directorate_id != scope.directorate_id:
                raise ScopeViolation(f"delete of {type(obj).__name__} {obj.id} outside scope")
            continue
        if scope.directorate_id is not None:
            if obj in session.new:
                obj.directorate_id = scope.directorate_id
                if obj.directorate is not None and obj.directorate.id != scope.directorate_id:
                    obj.directorate = None
                    obj.directorate_id = scope.directorate_id
            else:
                history = state.attrs.directorate_id.history
                moved = history.added and history.added[0] != scope.directorate_id
                rel_history = state.attrs.directorate.history
                moved_rel = rel_history.added and rel_history.added[0] is not None and \
                    rel_history.added[0].id != scope.directorate_id
                if moved or moved_rel:
                    raise ScopeViolation(f"moving {type(obj).__name__} {obj.id} out of scope")
        references = [(rel, _load_reference(session, obj, rel)) for rel in _scoped_references(obj)]
        if obj.directorate_id is None and obj.directorate is None:
            # a ministry user adding a document: it belongs where its holder is
            for _rel, target in references:
                if target is not None:
                    obj.directorate_id = target.directorate_id
                    break
        own = obj.directorate_id if obj.directorate_id is not None else (
            obj.directorate.id if obj.directorate is not None else None)
        for rel, target in references:
            if target is None:
                continue
            if target.directorate_id != own or (
                    scope.directorate_id is not None and target.directorate_id != scope.directorate_id):
                raise ScopeViolation(
                    f"{type(obj).__name__}.{rel.key} refers to a row of another directorate")
