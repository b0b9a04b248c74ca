"""Search filters of Sijill's lists: names through their normalised twin.

FAB filters a text column with ILIKE, which no index serves: "starts with"
on a citizen's name read every row of the scope (6.9 s over a directorate of
1.5M citizens in the 10M bench). A model names the normalised twin of a
column in ``__normalized__`` (``Citizen.full_name`` → ``name_normalized``);
its filters then compare the twin with the typed text normalised the same
way (app.arabic.normalize_name: alef forms, ى/ي, ة/ه, tatweel, diacritics),
so "احمد" finds "أحمد" and "starts with" is a range scan of the prefix index.
The filters keep FAB's order, so saved links (``_flt_0_…``) mean the same.
"""
from flask_appbuilder.models.filters import Filters
from flask_appbuilder.models.sqla.filters import (
    FilterContains, FilterEndsWith, FilterEqual, FilterIn, FilterNotContains, FilterNotEndsWith,
    FilterNotEqual, FilterNotIn, FilterNotStartsWith, FilterStartsWith, SQLAFilterConverter,
)
from sqlalchemy import not_

from .arabic import normalize_name


def _escaped(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _twin_filter(base, pattern, negate=False):
    """A FAB filter class applied to the twin column with a normalised value."""
    def apply(self, query, value):
        twin = getattr(self.model, self.model.__normalized__[self.column_name])
        typed = normalize_name(value)
        condition = twin == typed if pattern is None else twin.like(pattern % _escaped(typed), escape="\\")
        return query.filter(not_(condition) if negate else condition)
    return type(f"Normalized{base.__name__}", (base,), {"apply": apply})


NAME_FILTERS = [
    _twin_filter(FilterStartsWith, "%s%%"),
    _twin_filter(FilterEndsWith, "%%%s"),
    _twin_filter(FilterContains, "%%%s%%"),
    _twin_filter(FilterEqual, None),
    _twin_filter(FilterNotStartsWith, "%s%%", negate=True),
    _twin_filter(FilterNotEndsWith, "%%%s", negate=True),
    _twin_filter(FilterNotContains, "%%%s%%", negate=True),
    _twin_filter(FilterNotEqual, None, negate=True),
    FilterIn,
    FilterNotIn,
]


class SijillFilterConverter(SQLAFilterConverter):
    def convert(self, col_name):
        if col_name in getattr(self.datamodel.obj, "__normalized__", {}):
            return [cls(col_name, self.datamodel) for cls in NAME_FILTERS]
        return super().convert(col_name)


class SijillFilters(Filters):
    """FAB's Filters, whose joins and copies reuse the filter catalogue.

    FAB's ``get_joined_filters`` and ``copy`` build a new ``Filters`` from
    scratch, which converts every column of the model into its filter
    objects (for a citizen some 20 columns, 300 objects) on every list page,
    only to read the active filters off it. The catalogue depends on the
    model alone, so the new object shares it."""

    def _sharing_catalogue(self):
        new = object.__new__(type(self))
        new.filter_converter, new.datamodel = self.filter_converter, self.datamodel
        new.search_columns = []
        new._all_filters = self._all_filters
        new.clear_filters()
        return new

    def get_joined_filters(self, filters):
        joined = self._sharing_catalogue()
        joined.filters = self.filters + filters.filters
        joined.values = self.values + filters.values
        return joined

    def copy(self):
        copied = self._sharing_catalogue()
        copied.filters, copied.values = list(self.filters), list(self.values)
        return copied
