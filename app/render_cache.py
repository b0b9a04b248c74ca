"""Parts of every page that depend only on who may see what and the language,
rendered once per worker and reused.

* The navbar menu. FAB renders it on every page: some forty entries, each a
  permission check, a translation and a url_for, about a sixth of a list
  page's time. It is kept per (permissions, language, mount point); the key
  holds the permissions themselves, so a user whose roles change gets a new
  key on the next request, never a stale menu.
* A list's search form. FAB's SearchWidget renders, on every list page, the
  label, the form field and the translated names of every filter of each
  search column (half a millisecond to a millisecond). They are kept per
  (screen, columns, language); a field whose choices come from the database
  (a relation's drop-down) is rendered afresh each time, and the filters
  active on this request are never cached.
"""
from flask import current_app, request
from flask_appbuilder.widgets import SearchWidget
from flask_babel import get_locale
from markupsafe import Markup

FAB_MENU_TEMPLATE = "appbuilder/navbar_menu.html"  # overridden by ours, which calls sijill_menu
MAX_ENTRIES = 256  # distinct role sets × languages (or screens × languages)

_rendered = {}
_template = []
_search_parts = {}


def keep(cache, key, value, limit=MAX_ENTRIES):
    """Store in a per-worker cache that is emptied when full (its keys are
    role sets, screens and users: a worker sees few, so this stays rare)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value


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
    pairs = sm.permissions_of_request()
    if pairs is None:  # anonymous, API key, built-in roles: FAB's own checks, every time
        return Markup(_fab_menu_template().render(menu=menu))
    key = (frozenset(pairs), str(get_locale()), request.script_root)
    html = _rendered.get(key)
    if html is None:
        html = keep(_rendered, key, Markup(_fab_menu_template().render(menu=menu)))
    return html


class CachedSearchWidget(SearchWidget):
    """FAB's SearchWidget with the per-screen parts kept (see above)."""

    def __call__(self, **kwargs):
        # Does what SearchWidget.__call__ does (labels, fields, filter names,
        # active filters), then renders through its parent's __call__.
        form, columns = self.template_args["form"], tuple(self.template_args["include_cols"])
        key = (self.template_args.get("route_base"), columns, str(get_locale()), request.script_root)
        parts = _search_parts.get(key)
        if parts is None:
            filters = self.filters.get_search_filters()
            parts = keep(_search_parts, key, (
                {col: str(form[col].label.text) for col in columns},
                {col: None if _reads_database(form[col]) else form[col]() for col in columns},
                {col: [str(flt.name) for flt in filters[col]] for col in columns}))
        labels, fields, names = parts
        kwargs.update(label_columns=labels, search_filters=names,
                      form_fields={col: html if html is not None else form[col]() for col, html in fields.items()},
                      active_filters=self.filters.get_filters_values_tojson())
        return super(SearchWidget, self).__call__(**kwargs)


def _reads_database(field):
    """A field whose choices are rows (relation drop-downs, pickers)."""
    return any(hasattr(field, name) for name in ("query_func", "query_factory", "datamodel", "picker"))


def install(app):
    app.jinja_env.globals["sijill_menu"] = sijill_menu
