# SPDX-License-Identifier: Apache-2.0
"""The filter builder: filters from Python expressions instead of text.

    from vexdb import field
    f = (field("year") >= 2020) & field("lang").isin(["en", "de"]) \
        & ~field("tags").contains("draft")
    coll.search(q, k=10, where=f)

An expression is compiled by the C library's builder (vex_expr_*, through
the tuple tree `_tree()` returns), type-checked against the collection's
schema, and is the same filter as the equivalent text: str(coll.filter(f))
gives the canonical text. Operators: == != < <= > >= on a field, & (AND),
| (OR), ~ (NOT); methods isin, not_in, between, contains, contains_any,
contains_all, is_null, is_not_null. Values are int, float, str or bool.
"""

_OPS = {"==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}


class Expr:
    """A filter expression; combine with &, | and ~."""

    __slots__ = ("_t",)

    def __init__(self, tree):
        self._t = tree

    def _tree(self):
        return self._t

    def __and__(self, other):
        return Expr(("and", self._t, _expr(other)._t))

    def __or__(self, other):
        return Expr(("or", self._t, _expr(other)._t))

    def __invert__(self):
        return Expr(("not", self._t))

    def __bool__(self):
        raise TypeError("a filter expression has no truth value: combine "
                        "with & | ~, not and/or/not")

    def __repr__(self):
        return "Expr(%r)" % (self._t,)


def _expr(x):
    if not isinstance(x, Expr):
        raise TypeError("expected a filter expression, got %r" % (x,))
    return x


def _values(vals, what):
    if isinstance(vals, (str, bytes)):
        raise TypeError("%s takes a list of values, not a single string" % what)
    return tuple(vals)


class field:
    """A metadata field by name: field("year") >= 2020 is an Expr."""

    __slots__ = ("name",)
    __hash__ = None

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError("field name must be a str")
        self.name = name

    def _cmp(self, op, v):
        return Expr(("cmp", self.name, _OPS[op], v))

    def __eq__(self, v):
        return self._cmp("==", v)

    def __ne__(self, v):
        return self._cmp("!=", v)

    def __lt__(self, v):
        return self._cmp("<", v)

    def __le__(self, v):
        return self._cmp("<=", v)

    def __gt__(self, v):
        return self._cmp(">", v)

    def __ge__(self, v):
        return self._cmp(">=", v)

    def isin(self, values):
        """field IN (values): 1..1024 numbers, strings or bools."""
        return Expr(("in", self.name, _values(values, "isin"), False))

    def not_in(self, values):
        """field NOT IN (values)."""
        return Expr(("in", self.name, _values(values, "not_in"), True))

    def between(self, lo, hi):
        """lo <= field <= hi (both numbers or both strings)."""
        return Expr(("between", self.name, lo, hi))

    def contains(self, tag):
        """A tags field holds `tag`."""
        return Expr(("contains", self.name, (tag,), False))

    def contains_any(self, tags):
        """A tags field holds at least one of `tags`."""
        return Expr(("contains", self.name, _values(tags, "contains_any"), False))

    def contains_all(self, tags):
        """A tags field holds every one of `tags`."""
        return Expr(("contains", self.name, _values(tags, "contains_all"), True))

    def is_null(self):
        """The field is absent or null."""
        return Expr(("null", self.name, False))

    def is_not_null(self):
        """The field is present and not null."""
        return Expr(("null", self.name, True))

    def __repr__(self):
        return "field(%r)" % self.name
