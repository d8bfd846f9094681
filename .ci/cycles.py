#!/usr/bin/env python3
"""Import cycles among the modules of src/: exits 1 and prints them if any
(with --why, the uses that make each).

Each `crate::..`, `super::..` and `self::..` path in a file is a use of the
module it names (the longest prefix that is a module of the crate). A use
from module u of module v is counted between the two siblings, under their
nearest common ancestor, that hold u and v: so `document::map` using
`patch::tree` makes `document` use `patch`, and a child using its parent
counts for nothing (a parent holds its children). A name the crate's root
re-exports (`crate::Hub`) is a use of the module it comes from. A file's
tests are left out. A cycle is two or more siblings that use each other,
directly or round a loop.
"""
import os
import re
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel == ["lib"]:
        return ()
    if rel[-1] == "mod":
        rel = rel[:-1]
    return tuple(rel)


modules = {}
for directory, _, files in os.walk(root):
    for name in files:
        if name.endswith(".rs"):
            path = os.path.join(directory, name)
            modules[module_of(path)] = path

# Inline `mod tests { .. }` and friends are parts of their file's module.
comment = re.compile(r"//[^\n]*")
path_re = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def resolve(here, head, tail):
    if head == "crate":
        base = ()
    elif head == "self":
        base = here
    else:
        base = here[:-1]
    parts = list(base)
    names = tail.strip(":").split("::")
    while names and names[0] == "super":
        parts = parts[:-1]
        names = names[1:]
    best = tuple(parts)
    for name in names:
        candidate = tuple(parts) + (name,)
        if candidate in modules:
            parts.append(name)
            best = tuple(parts)
        else:
            break
    return best


def expand(prefix, body):
    """The paths of a `use prefix::{body}` group, nested groups opened."""
    items, depth, start = [], 0, 0
    for at, char in enumerate(body + ","):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(body[start:at].strip())
            start = at + 1
    paths = []
    for item in filter(None, items):
        item = item.split(" as ")[0].strip()
        if "::{" in item:
            head, _, rest = item.partition("::{")
            paths += expand(f"{prefix}::{head}", rest[: rest.rindex("}")])
        elif item != "self":
            paths.append(f"{prefix}::{item}")
    return paths


group_re = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{")


def paths_in(text):
    """Every module path the text names, `use` groups opened."""
    found = [head + tail for head, tail in path_re.findall(text)]
    for match in group_re.finditer(text):
        depth, at = 1, match.end()
        while depth and at < len(text):
            depth += {"{": 1, "}": -1}.get(text[at], 0)
            at += 1
        found += expand(match.group(1), text[match.end() : at - 1])
    return found


# What the crate's root re-exports (`pub use hub::Hub;`): `crate::Hub` is
# a use of `hub`.
reexports = {}
lib = comment.sub("", open(modules[()], encoding="utf-8").read())
for statement in re.findall(r"pub use ([^;]+);", lib):
    for path in paths_in("crate::" + statement if "{" not in statement else "crate::" + statement):
        parts = path.split("::")
        if len(parts) >= 3:
            reexports[parts[-1]] = resolve((), "crate", "::" + "::".join(parts[1:-1]))

# A file's tests (`#[cfg(test)] mod tests`, at its end by custom) may use
# what they like: they are not part of what the module builds on.
tests_re = re.compile(r"#\[cfg\(test\)\]\s*mod tests\b.*", re.S)

edges = {}
why = {}
for module, path in modules.items():
    text = tests_re.sub("", comment.sub("", open(path, encoding="utf-8").read()))
    for named in paths_in(text):
        head, _, tail = named.partition("::")
        names = tail.split("::")
        if head == "crate" and names and names[0] in reexports and (names[0],) not in modules:
            target = reexports[names[0]]
        else:
            target = resolve(module, head, "::" + tail)
        common = 0
        while common < min(len(module), len(target)) and module[common] == target[common]:
            common += 1
        if common == len(module) or common == len(target):
            continue  # an ancestor or a descendant
        parent = module[:common]
        a, b = module[common], target[common]
        edges.setdefault(parent, {}).setdefault(a, set()).add(b)
        why.setdefault((parent, a, b), set()).add(f"{'::'.join(module)} uses {named}")


def cycles(graph):
    """Strongly connected components of two or more (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


bad = []
for parent, graph in sorted(edges.items()):
    for component in cycles(graph):
        where = "::".join(parent) or "crate"
        bad.append(f"{where}: {' <-> '.join(component)}")
for line in bad:
    print("import cycle in", line)
# The uses behind each cycle, with --why.
if "--why" in sys.argv:
    for parent, graph in sorted(edges.items()):
        for component in cycles(graph):
            for a in component:
                for b in sorted(graph[a] & set(component)):
                    for use in sorted(why[(parent, a, b)]):
                        print(f"  {a} -> {b}: {use}")
print(f"{len(modules)} modules, {len(bad)} import cycles")
sys.exit(1 if bad else 0)
