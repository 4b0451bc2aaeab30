# SPDX-License-Identifier: Apache-2.0
"""The type stubs (vexdb/__init__.pyi) name exactly the public API the
module has: every class, method and attribute, both ways."""
import ast
import os

import vexdb

STUB = os.path.join(os.path.dirname(vexdb.__file__), "__init__.pyi")


def stub_classes():
    tree = ast.parse(open(STUB, encoding="utf-8").read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign):
                    names.add(item.target.id)
            out[node.name] = names
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    return out, funcs


def public(cls):
    return {n for n in dir(cls) if not n.startswith("_")} | (
        {"__len__"} if hasattr(cls, "__len__") else set()) | (
        {"__enter__", "__exit__"} if hasattr(cls, "__enter__") else set()) | (
        {"__contains__"} if hasattr(cls, "__contains__") else set())


def test_stub_classes_match_runtime():
    classes, funcs = stub_classes()
    for name in ("Database", "Collection", "Index", "Hits", "Record"):
        runtime = public(getattr(vexdb, name))
        declared = classes[name] - {"__init__"}
        assert declared == runtime, (name, declared ^ runtime)
    for name in vexdb.__all__:
        assert name in classes or name in funcs or name in (
            "MAX_K", "MAX_DIM", "library_version", "field", "Expr"), name
    assert {"open", "Field", "simd"} <= funcs


def test_docstrings_name_every_parameter():
    """help() on a method (and on Database / Index for their constructors)
    shows every parameter the stubs declare, so the docstrings cannot fall
    behind the API (they had, for texts=, fusion= and the DiskANN
    settings)."""
    import re
    tree = ast.parse(open(STUB, encoding="utf-8").read())
    missing = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or not hasattr(vexdb, node.name):
            continue
        cls = getattr(vexdb, node.name)
        for item in node.body:
            if not isinstance(item, ast.FunctionDef) or item.name in (
                    "__len__", "__contains__", "__enter__", "__exit__"):
                continue
            a = item.args
            names = [x.arg for x in a.args + a.kwonlyargs
                     if x.arg not in ("self", "cls")]
            doc = (cls.__doc__ if item.name == "__init__"
                   else getattr(cls, item.name).__doc__) or ""
            missing += ["%s.%s(%s)" % (node.name, item.name, n) for n in names
                        if not re.search(r"\b%s\b" % re.escape(n), doc)]
    for fn in (vexdb.open, vexdb.Field):
        import inspect
        for n in inspect.signature(fn).parameters:
            if not re.search(r"\b%s\b" % n, fn.__doc__):
                missing.append("%s(%s)" % (fn.__name__, n))
    assert not missing, missing
