"""The simulate commands' flags take their defaults from the generators' signatures, read from
the source (ast) so that building the command line imports no generator."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path


def generator_defaults(module: str, function: str) -> dict[str, object]:
    """Parameter -> default value (literals only) of `module.function`, without importing the module."""
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    positional = [*node.args.posonlyargs, *node.args.args]
    pairs = [*zip(positional[len(positional) - len(node.args.defaults):], node.args.defaults),
             *((a, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None)]
    out = {}
    for arg, default in pairs:
        try:
            out[arg.arg] = ast.literal_eval(default)
        except ValueError:  # a default that is a name (a module constant): the generator keeps it
            continue
    return out
