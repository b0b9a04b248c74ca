"""The messages Sijill shows, as Babel extracts them, for the Arabic catalog.

One definition of "every user-visible message": the app's Python and Jinja
templates and Flask-AppBuilder's (FAB renders its own menus, buttons and
flashes through the same catalog), with the patterns of ``babel.cfg``.
``make catalog-update`` writes them to ``app/translations/messages.pot`` and
merges them into ``ar/LC_MESSAGES/messages.po``; ``tests/test_i18n.py``
extracts them again and fails on any message without an Arabic translation.

    python -m app.catalog            # write app/translations/messages.pot
"""
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "babel.cfg"
TRANSLATIONS = ROOT / "app" / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
# lazy_gettext is how models, views and FAB mark strings read at render time.
KEYWORDS = dict(DEFAULT_KEYWORDS, lazy_gettext=None, lazy_ngettext=(1, 2), _l=None)


def sources():
    """(folder, name shown in the catalog's locations) of every extracted tree."""
    import flask_appbuilder
    return [(ROOT / "app", "app"), (Path(flask_appbuilder.__file__).resolve().parent, "flask_appbuilder")]


def extract():
    """A Babel catalog of every msgid, located as ``app/views.py:12`` or
    ``flask_appbuilder/baseviews.py:675`` whatever the virtualenv's path."""
    with open(CONFIG, encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, filename=str(CONFIG))
    catalog = Catalog(project="Sijill", copyright_holder="Ministry of Labour, Arab Republic of Egypt",
                      version="1.0", charset="utf-8")
    for folder, name in sources():
        for filename, lineno, message, comments, context in extract_from_dir(
                folder, method_map, options_map, keywords=KEYWORDS,
                comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
            catalog.add(message, None, [(f"{name}/{filename}", lineno)], auto_comments=comments,
                        context=context)
    return catalog


def main(argv=None):
    target = Path((argv or sys.argv[1:] or [str(TEMPLATE)])[0])
    catalog = extract()
    with open(target, "wb") as out:
        write_po(out, catalog, width=100, sort_by_file=True)
    print(f"{len([m for m in catalog if m.id])} messages extracted into {target}")


if __name__ == "__main__":
    main()
