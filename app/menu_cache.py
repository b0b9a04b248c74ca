"""The navbar's menu, rendered once per (permissions, language) in each worker.

FAB renders its menu template on every page: some forty entries, each a
permission check, a translation and a url_for, about a sixth of a list
page's time. What the menu shows depends only on the user's permissions, the
language and the app's mount point, so it is rendered once per such key and
the HTML reused. The key holds the permissions themselves: a user whose roles
change gets a new key on the next request, never a stale menu.
"""
from flask import current_app, request
from flask_babel import get_locale
from markupsafe import Markup

FAB_MENU_TEMPLATE = "appbuilder/navbar_menu.html"  # overridden by ours, which calls sijill_menu
MAX_ENTRIES = 256  # distinct role sets × languages; far more than the ministry has

_rendered = {}
_template = []


def _fab_menu_template():
    """FAB's own menu template, read from FAB's blueprint (ours shadows it
    in the app's template folder)."""
    if not _template:
        env = current_app.jinja_env
        source, _filename, _uptodate = current_app.blueprints["appbuilder"].jinja_loader.get_source(
            env, FAB_MENU_TEMPLATE)
        _template.append(env.from_string(source))
    return _template[0]


def sijill_menu(menu):
    sm = current_app.appbuilder.sm
    pairs = sm._permissions_of_request()
    if pairs is None:  # anonymous, API key, built-in roles: FAB's own checks, every time
        return Markup(_fab_menu_template().render(menu=menu))
    key = (frozenset(pairs), str(get_locale()), request.script_root)
    html = _rendered.get(key)
    if html is None:
        html = Markup(_fab_menu_template().render(menu=menu))
        if len(_rendered) >= MAX_ENTRIES:
            _rendered.clear()
        _rendered[key] = html
    return html


def install(app):
    app.jinja_env.globals["sijill_menu"] = sijill_menu
