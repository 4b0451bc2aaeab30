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
