"""Who may do what: roles as data, and Sijill's FAB security manager.

Permissions use one verb vocabulary (``METHOD_VERBS``): every web view and
REST API of a resource maps its methods onto ``can_read``, ``can_write``,
``can_delete``, ``can_submit`` … so a role is "these verbs on these
resources", written once in ``ROLE_CONFIGS`` and synced idempotently at
start-up (``sync_roles``). Web screens and the REST API of one resource are
two permission names (``Citizen`` and ``CitizenApi``) so that the portal
service account reaches the API without the web UI.

Which *rows* a user reaches is not a role question: it is the user's scope
(``SijillUser.directorate_id``), enforced for every path by ``app.scope``.
"""
import datetime
import functools
import logging

from flask import current_app, flash, g, redirect, request
from flask_appbuilder.actions import action
from flask_login import current_user
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import (
    assoc_group_role, assoc_permissionview_role, assoc_user_group, assoc_user_role,
)
from sqlalchemy import bindparam, func, select, union
from flask_appbuilder.security.views import AuthDBView, UserDBModelView
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.views import expose
from flask_babel import lazy_gettext as _

from .models import SijillUser, security_stamp
from .render_cache import keep

log = logging.getLogger(__name__)

# --- Vocabulary -----------------------------------------------------------------
METHOD_VERBS = {
    # ModelView
    "list": "read", "show": "read", "download": "read", "add": "write", "edit": "write",
    "delete": "delete", "history": "read",
    # ModelRestApi
    "get": "read", "get_list": "read", "info": "read", "post": "write", "put": "write",
    # Actions and extra endpoints
    "muldelete": "delete", "submit": "submit", "submit_selected": "submit", "approve": "approve", "reject": "reject",
    "revoke": "revoke", "print_document": "print", "print_batch": "print",
    "export_csv": "export", "export_xlsx": "export", "restore": "restore",
    # The workflow endpoint needs read, then checks the step's own verb
    # (can_submit, can_approve…) inside.
    "step": "read",
    # The portal's operations (app/portal_api.py): citizen lookup by national
    # ID (its own verb: the portal looks citizens up but never lists them),
    # applications (submit = write, status = read) and verification.
    "lookup": "lookup", "submit_application": "write", "application_status": "read", "verify": "read",
    # Statistics dashboard (app/dashboard.py): managers approve their month;
    # compiling (and re-running a job) is a ministry admin's write.
    "dashboard": "read", "approve_month": "approve", "compile_month": "write", "rerun_job": "write",
}

ALL_VERBS = {"read", "write", "delete", "submit", "approve", "reject", "revoke", "print", "export",
             "restore", "lookup"}
CASEWORK = ("Citizen", "Establishment", "Certificate", "SkillTest", "Permit")
REFERENCE = ("Directorate", "Occupation", "SkillLevel")
OVERSIGHT = ("AuditLog", "Statistics", "Expiring")

MANAGER, CLERK, AUDITOR, PORTAL = "Manager", "Clerk", "Auditor", "Portal"
ADMIN = "Admin"

# role: list of (resources, verbs, channels). "web" is a screen, "api" its REST API.
ROLE_CONFIGS = {
    MANAGER: [
        (CASEWORK, {"read", "write", "submit", "approve", "reject", "revoke", "print", "export"},
         ("web", "api")),
        (REFERENCE, {"read"}, ("web", "api")),
        (("Citizen",), {"lookup"}, ("api",)),
        (("Application",), {"read", "write"}, ("api",)),
        (("Verification",), {"read"}, ("api",)),
        (("Statistics", "Expiring"), {"read", "export", "approve"}, ("web",)),
        (("DirectorateUser",), {"read", "write"}, ("web",)),
        (("Import",), {"write"}, ("web",)),  # into its own directorate (the session's scope)
    ],
    CLERK: [
        (CASEWORK, {"read", "write", "submit", "print"}, ("web", "api")),
        (REFERENCE, {"read"}, ("web", "api")),
        (("Citizen",), {"lookup"}, ("api",)),
        (("Application",), {"read", "write"}, ("api",)),
        (("Verification",), {"read"}, ("api",)),
        (("Expiring",), {"read"}, ("web",)),
    ],
    AUDITOR: [
        (CASEWORK + REFERENCE + OVERSIGHT, {"read", "export"}, ("web", "api")),
        (("Citizen",), {"lookup"}, ("api",)),
        (("Application", "Verification"), {"read"}, ("api",)),
    ],
    # The national portal: exactly its calls, through the API only. It looks a
    # citizen up (a masked name, never the record), submits applications and
    # reads their status (its own only: app/portal_api.py), verifies
    # documents, and reads the reference lists its forms offer. It cannot
    # list or change citizens, documents or permits.
    PORTAL: [
        (("Citizen",), {"lookup"}, ("api",)),
        (("Application",), {"read", "write"}, ("api",)),
        (("Verification",), {"read"}, ("api",)),
        (("Occupation", "Directorate", "SkillLevel"), {"read"}, ("api",)),
    ],
}
# Roles a directorate manager may hand out (never one above its own).
DELEGABLE_ROLES = (CLERK,)
ROLE_LABELS = {ADMIN: _("Ministry admin"), MANAGER: _("Directorate manager"),
               CLERK: _("Directorate clerk"), AUDITOR: _("Auditor"), PORTAL: _("Portal service account")}


def api_resource(name):
    return f"{name}Api"


def role_permissions(role):
    """The set of (permission, resource) a role holds, from ROLE_CONFIGS."""
    pairs = set()
    for resources, verbs, channels in ROLE_CONFIGS.get(role, ()):
        for resource in resources:
            for channel in channels:
                target = resource if channel == "web" else api_resource(resource)
                pairs.update((f"can_{verb}", target) for verb in verbs)
    return pairs


LOCKED_MESSAGE = _("This account is locked after repeated failed logins. "
                   "Try again later or ask a ministry admin to unlock it.")


class NoTargetIsNoWarning(logging.Filter):
    """FAB's login checks its ``next`` target even when there is none and
    logs "Invalid redirect detected" for every sign-in without one, which
    buries the warnings that matter (a real off-site target). Those are kept."""

    def filter(self, record):
        return not (record.getMessage().startswith("Invalid redirect detected")
                    and _has_request() and not request.args.get("next"))


logging.getLogger("flask_appbuilder.utils.base").addFilter(NoTargetIsNoWarning())


class SijillAuthDBView(AuthDBView):
    """FAB's login, plus the lockout and the web ban of service accounts;
    logout only by POST (it ends a session: a state change, so a link or an
    <img src> on another site must not be able to do it)."""

    @property
    def invalid_login_message(self):
        # FAB flashes this one message on any refused login; a locked account
        # is told why instead (the lock is set in auth_user_db).
        if g.get("sijill_login_locked"):
            return LOCKED_MESSAGE
        return _("Invalid login. Please try again.")

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        return super().login()


    @expose("/logout/", methods=["POST"])
    def logout(self):
        return super().logout()


def _role_required(form, field):
    """FAB's validator reads a "groups" field this form does not have (Sijill
    uses no groups), so any save without a role crashed with a 500."""
    from wtforms.validators import ValidationError
    if not field.data:
        raise ValidationError(str(_("Choose at least one role.")))


class SijillUserDBModelView(UserDBModelView):
    """FAB's user admin with the user's directorate (its scope)."""

    list_columns = ["first_name", "last_name", "username", "directorate", "active", "roles"]
    show_columns = ["first_name", "last_name", "username", "email", "directorate", "active", "roles",
                    "last_login", "login_count", "fail_login_count", "created_on", "changed_on"]
    add_columns = ["first_name", "last_name", "username", "email", "directorate", "active", "roles",
                   "password", "conf_password"]
    edit_columns = ["first_name", "last_name", "username", "email", "directorate", "active", "roles"]
    label_columns = dict(UserDBModelView.label_columns, directorate=_("Directorate"))
    # FAB prints the role list as "[Admin]": the role's name is a code.
    formatters_columns = {"roles": lambda roles: "، ".join(str(ROLE_LABELS.get(r.name, r.name)) for r in roles)}
    base_order = ("username", "asc")
    validators_columns = {"roles": [_role_required]}

    @action("unlock", _("Unlock"), _("Unlock the selected accounts (clear their failed logins)?"),
            "fa-unlock", multiple=True, single=True)
    def unlock(self, items):
        """A ministry admin's unlock of accounts locked by failed logins (audited)."""
        from . import audit
        from .extensions import db
        items = items if isinstance(items, list) else [items]
        done = [u for u in items if u is not None]
        for user in done:
            user.locked_until, user.fail_login_count = None, 0
        self.datamodel.session.commit()
        for user in done:
            audit.record_event_now(db.engine, "account_unlocked", entity="SijillUser", record_id=user.id,
                                   detail={"username": user.username})
        flash(str(_("%(count)s account(s) unlocked.", count=len(done))), "success")
        return redirect(self.get_redirect())


class DirectorateUserView(UserDBModelView):
    """A directorate manager's own staff: clerk accounts of its directorate.

    Users are not a ``Scoped`` model (login must find any user before anyone
    is logged in), so this screen states its scope itself: it lists, edits and
    creates only users of the manager's directorate, and every account it
    creates or edits holds the Clerk role only — never one above the manager's.
    """

    datamodel = SQLAInterface(SijillUser)
    route_base = "/directorate-users"
    class_permission_name = "DirectorateUser"
    method_permission_name = METHOD_VERBS
    list_columns = ["first_name", "last_name", "username", "active", "last_login"]
    show_columns = ["first_name", "last_name", "username", "email", "active", "roles", "last_login",
                    "login_count", "created_on"]
    add_columns = ["first_name", "last_name", "username", "email", "password", "conf_password"]
    edit_columns = ["first_name", "last_name", "email", "active"]
    search_columns = ["username", "first_name", "last_name", "active"]
    base_order = ("username", "asc")
    base_permissions = ["can_read", "can_write"]

    def __init__(self, **kwargs):
        from flask_appbuilder.models.sqla.filters import FilterEqualFunction
        self.base_filters = [["directorate_id", FilterEqualFunction, _manager_directorate]]
        super().__init__(**kwargs)

    def pre_add(self, item):
        super().pre_add(item)
        item.directorate_id = _manager_directorate()
        item.roles = [self.appbuilder.sm.find_role(CLERK)]
        item.active = True

    def pre_update(self, item):
        super().pre_update(item)
        if item.directorate_id != _manager_directorate() or any(r.name != CLERK for r in item.roles):
            from werkzeug.exceptions import NotFound
            raise NotFound()


def _manager_directorate():
    """The directorate of the manager using the screen (-1 matches nobody:
    a ministry account manages users in FAB's own user screen)."""
    user = g.get("user")
    return getattr(user, "directorate_id", None) or -1


def _has_request():
    from flask import has_request_context
    return has_request_context()


class SijillSecurityManager(SecurityManager):
    user_model = SijillUser

    @staticmethod
    def extract_api_key_from_request():
        """FAB reads a key only from "Authorization: Bearer"; the portal may also
        send "X-API-Key" or "Authorization: ApiKey" (app.api_limits)."""
        from .api_limits import api_key_of_request
        return api_key_of_request()
    userdbmodelview = SijillUserDBModelView
    authdbview = SijillAuthDBView
    # FAB's "User's Statistics" chart loads Google's charts from the internet;
    # the ministry intranet has none, and the chart says nothing useful.
    userstatschartview = None

    # --- permission checks: set lookups, the pairs kept per security stamp --------
    def has_access(self, permission_name, view_name):
        """FAB re-resolves the user and its roles for each menu entry and
        button of a page (about 25 checks, 4-7 ms per list page). A signed-in
        web user's checks are set lookups in ``permissions_of_request``;
        public, JWT, API-key and built-in-role checks keep FAB's own path."""
        pairs = self.permissions_of_request()
        if pairs is None:
            return super().has_access(permission_name, view_name)
        return (permission_name, view_name) in pairs

    def permissions_of_request(self):
        """The signed-in web user's (permission, view) pairs, or None where
        FAB's own checks apply (no request, anonymous, API key, built-in roles)."""
        if (not _has_request() or self.builtin_roles or getattr(g, "_api_key_user", False)
                or not current_user.is_authenticated):
            return None
        user = current_user._get_current_object()
        cached = g.get("_sijill_user_pairs")
        if cached is not None and cached[0] == user.id:
            return cached[1]
        pairs = self._pairs_of_stamped_user(user) if user.is_active else frozenset()
        g._sijill_user_pairs = (user.id, pairs)
        return pairs

    # (user id, security stamp) → the user's pairs, kept by each worker process.
    _pairs_by_stamp = {}
    PAIRS_KEPT = 4096

    def get_user_by_id(self, pk):
        """The signed-in user's row and the security stamp, in one query
        (flask-login asks for the user once per request)."""
        row = self.session.execute(
            select(self.user_model, select(func.max(security_stamp.c.value)).scalar_subquery())
            .where(self.user_model.id == pk)).first()
        if row is None:
            return None
        user, user.sijill_permissions_stamp = row
        return user

    def _pairs_of_stamped_user(self, user):
        """A user's pairs, read once per change of the security stamp: the
        stamp comes with the user row (``get_user_by_id``) and database
        triggers raise it on any change of roles, permissions or role
        assignments, so a change applies from the next request and pages
        are spared one query each."""
        stamp = getattr(user, "sijill_permissions_stamp", None)
        key = (user.id, stamp)
        pairs = self._pairs_by_stamp.get(key) if stamp is not None else None
        if pairs is None:
            pairs = frozenset(self._read_pairs(self._user_pairs_statement, user_id=user.id))
            if stamp is not None:
                keep(self._pairs_by_stamp, key, pairs, self.PAIRS_KEPT)
        return pairs

    def _read_pairs(self, statement, **params):
        """(permission, view) pairs by one Core SELECT on the session's
        connection: through the ORM (and the scope hook, which has nothing
        to limit on these tables) it cost three times what PostgreSQL takes
        to answer it."""
        return {(p, v) for p, v in self.session.connection().execute(statement, params)}

    @functools.cached_property
    def _user_pairs_statement(self):
        """The pairs of a user's roles, direct or through its groups: one
        query instead of FAB's roles, groups, then permissions."""
        user_id = bindparam("user_id")
        role_ids = union(
            select(assoc_user_role.c.role_id).where(assoc_user_role.c.user_id == user_id),
            select(assoc_group_role.c.role_id)
            .join(assoc_user_group, assoc_user_group.c.group_id == assoc_group_role.c.group_id)
            .where(assoc_user_group.c.user_id == user_id))
        return self._pairs_statement(assoc_permissionview_role.c.role_id.in_(role_ids))

    def exist_permission_on_roles(self, view_name, permission_name, role_ids):
        """FAB asks the database once per check (~17 EXISTS per list page, 12-20 ms);
        here a request loads its roles' (permission, view) pairs in one query and
        answers every further check from that set."""
        return (permission_name, view_name) in self._pairs_of_roles(role_ids)

    def _pairs_of_roles(self, role_ids):
        """(permission, view) pairs of these roles, one query per request.
        Per request only: a changed role applies from the next request."""
        key = tuple(sorted(role_ids))
        cache = g.setdefault("_sijill_pvms", {}) if _has_request() else {}
        if key not in cache:
            cache[key] = self._pairs_where(assoc_permissionview_role.c.role_id.in_(key))
        return cache[key]

    def _pairs_where(self, role_condition):
        return self._read_pairs(self._pairs_statement(role_condition))

    def _pairs_statement(self, role_condition):
        pv, perm, view = (m.__table__ for m in (self.permissionview_model, self.permission_model,
                                                self.viewmenu_model))
        return (select(perm.c.name, view.c.name).distinct()
                .select_from(pv.join(assoc_permissionview_role,
                                     pv.c.id == assoc_permissionview_role.c.permission_view_id)
                             .join(perm, pv.c.permission_id == perm.c.id)
                             .join(view, pv.c.view_menu_id == view.c.id))
                .where(role_condition))

    # --- roles as data --------------------------------------------------------
    def ensure_builtin_roles(self):
        """FAB's Admin and Public roles (FAB_CREATE_DB is off: Alembic owns the schema)."""
        for name in (self.auth_role_admin, self.auth_role_public):
            self.find_role(name) or self.add_role(name)

    def sync_roles(self):
        """Create the roles of ROLE_CONFIGS with exactly their permissions.
        Idempotent: run at every start-up; a permission removed from the
        table is removed from the role."""
        for role_name in ROLE_CONFIGS:
            role = self.find_role(role_name) or self.add_role(role_name)
            wanted = role_permissions(role_name)
            wanted |= self._menu_permissions_for(wanted)
            current = {(pv.permission.name, pv.view_menu.name): pv for pv in role.permissions}
            for perm, view in wanted - set(current):
                pv = self.add_permission_view_menu(perm, view)
                if pv not in role.permissions:
                    role.permissions.append(pv)
            for key in set(current) - wanted:
                role.permissions.remove(current[key])
            self.session.merge(role)
        admin = self.find_role(self.auth_role_admin)
        missing = [pv for pv in self.session.query(self.permissionview_model) if pv not in admin.permissions]
        admin.permissions.extend(missing)
        self.session.commit()

    def _menu_permissions_for(self, pairs):
        """menu_access on every menu entry whose view the role can read."""
        readable = {view for perm, view in pairs if perm == "can_read"}
        menus = set()
        for item in self.appbuilder.menu.get_list():
            children = item.childs or [item]
            visible = [c for c in children
                       if getattr(c.baseview, "class_permission_name", None) in readable]
            for child in visible:
                menus.add(("menu_access", child.name))
            if visible and item.childs:
                menus.add(("menu_access", item.name))
        return menus

    # --- login ----------------------------------------------------------------
    def auth_user_db(self, username, password):
        """FAB counts failed logins (fail_login_count) but never acts on them:
        LOGIN_MAX_FAILURES failures in a row lock the account for
        LOGIN_LOCK_MINUTES, even for the right password, until the lock runs
        out or a ministry admin unlocks it (the users list's "Unlock")."""
        user = self.find_user(username=username)
        now = datetime.datetime.utcnow()
        if user is not None and user.locked_until:
            if user.locked_until > now:
                g.sijill_login_locked = True
                self._audit_login("login_locked", user, username)
                return None
            # the lock ran out: the next failures are counted afresh
            user.locked_until, user.fail_login_count = None, 0
            self.session.merge(user)
            self.session.commit()
        if user is not None and request.blueprint and not request.path.startswith("/api/"):
            if [r.name for r in user.roles] == [PORTAL]:
                return None  # the portal account reaches the API only
        result = super().auth_user_db(username, password)
        self._after_login_attempt(user, username, result is not None)
        return result

    def _after_login_attempt(self, user, username, ok):
        limit = current_app.config.get("LOGIN_MAX_FAILURES", 5)
        if user is not None and not ok and (user.fail_login_count or 0) >= limit:
            minutes = current_app.config.get("LOGIN_LOCK_MINUTES", 15)
            user.locked_until = datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes)
            self.session.merge(user)
            self.session.commit()
            g.sijill_login_locked = True
            self._audit_login("account_locked", user, username)
        self._audit_login("login" if ok else "failed_login", user, username)

    def _audit_login(self, event, user, username):
        from . import audit
        from .extensions import db
        audit.record_event_now(db.engine, event, entity="SijillUser",
                               record_id=getattr(user, "id", None), user_id=getattr(user, "id", None),
                               username=username)
