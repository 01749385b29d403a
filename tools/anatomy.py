#!/usr/bin/env python3
"""The workspace's anatomy, checked: run by scripts/test.sh (and on its own).

1. No service crate depends on another service crate (services share only
   `proto/` and the plumbing crate).
2. No module cycles inside a crate: at every level of a crate's module tree,
   the graph "sibling A uses something in sibling B" has no cycle. A child
   using its parent (`super::`) or a parent declaring its children is not an
   edge; two siblings that use each other, directly or through others, are.
3. Every service has the same rooms: `lib.rs` (serve and wiring), `api.rs`
   (thin RPC impls), `error.rs` (its error type mapped to the error table),
   and a `main.rs` that only calls the shared runner.

Exit status 1 with one line per finding; `--graph CRATE_DIR` prints a
crate's top-level module graph (for reading, not checking).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"
# Crates whose module graphs are checked: every workspace member's src/.
ROOMS = ("lib.rs", "api.rs", "error.rs", "main.rs")


def strip_comments_and_strings(text: str) -> str:
    """Source with comments, string and char literals blanked out."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 12] if i + 1 < n else ""):
            m = re.match(r"'(\\[^']*|[^\\'])'", text[i:])
            i += len(m.group(0)) if m else 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Crate:
    """A crate's module tree (from files and inline `mod x {}` blocks is
    enough for our code: inline modules other than tests are not used) and
    the paths each module's code names."""

    def __init__(self, src: Path, root_file: str = "lib.rs"):
        self.src = src
        self.modules: dict[tuple[str, ...], Path] = {}
        self.uses: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        self.reexports: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._load((), src / root_file)

    def _child_file(self, parent: tuple[str, ...], parent_file: Path, name: str) -> Path | None:
        if parent_file.name in ("lib.rs", "main.rs", "mod.rs"):
            base = parent_file.parent
        else:
            base = parent_file.parent / parent_file.stem
        for cand in (base / f"{name}.rs", base / name / "mod.rs"):
            if cand.exists():
                return cand
        return None

    def _load(self, path: tuple[str, ...], file: Path) -> None:
        self.modules[path] = file
        code = strip_comments_and_strings(file.read_text(encoding="utf-8"))
        # Test modules are the module's own tests: their imports are not the module's.
        code = re.sub(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", "mod __tests {", code)
        code = cut_inline_test_modules(code)
        for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code, re.M):
            child = self._child_file(path, file, m.group(1))
            if child is not None:
                self._load(path + (m.group(1),), child)
        self.uses[path] = set(paths_named(code, path))
        for target in reexports(code, path):
            self.reexports[path + (target[-1],)] = target

    def resolve(self, p: tuple[str, ...]) -> tuple[str, ...] | None:
        """The module a path lands in (its longest module prefix), through
        re-exports."""
        seen = 0
        while p in self.reexports and seen < 8:
            p, seen = self.reexports[p], seen + 1
        for k in range(len(p), -1, -1):
            if p[:k] in self.modules:
                target = p[:k]
                rest = p[k:]
                if rest and target + (rest[0],) in self.reexports:
                    return self.resolve(self.reexports[target + (rest[0],)] + rest[1:])
                return target
        return None

    def edges(self) -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
        out = set()
        for src, named in self.uses.items():
            for p in named:
                dst = self.resolve(p)
                if dst is not None and dst != src:
                    out.add((src, dst))
        return out


def cut_inline_test_modules(code: str) -> str:
    out, i = [], 0
    while True:
        j = code.find("mod __tests {", i)
        if j < 0:
            out.append(code[i:])
            return "".join(out)
        out.append(code[i:j])
        depth, k = 0, code.index("{", j)
        while k < len(code):
            if code[k] == "{":
                depth += 1
            elif code[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        i = k + 1


def expand_use_tree(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` → [`a::b`, `a::c::d`, `a::c::e`]."""
    tree = re.sub(r"\s+", "", tree)
    depth, start, parts = 0, 0, []
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, inner = tree[:brace], tree[brace + 1:tree.rfind("}")]
    for i, c in enumerate(inner):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    out = []
    for part in parts:
        if not part:
            continue
        for leaf in expand_use_tree(part):
            out.append(prefix + leaf)
    return out


def absolute(path: str, here: tuple[str, ...]) -> tuple[str, ...] | None:
    segs = [s for s in re.sub(r"\bas\w+$", "", path).split("::") if s]
    segs = [s.split(" as ")[0] for s in segs]
    if not segs:
        return None
    if segs[0] == "crate":
        return tuple(segs[1:])
    if segs[0] == "super":
        base = list(here)
        while segs and segs[0] == "super":
            if not base:
                return None
            base.pop()
            segs.pop(0)
        return tuple(base + segs)
    if segs[0] == "self":
        return tuple(list(here) + segs[1:])
    return None


def paths_named(code: str, here: tuple[str, ...]):
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        for leaf in expand_use_tree(m.group(1)):
            leaf = re.sub(r"as\w+$", "", leaf.replace(" as ", "as"))
            p = absolute(leaf, here)
            if p is not None:
                yield tuple(s for s in p if s not in ("*", "self"))
    for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", code):
        p = absolute(m.group(1), here)
        if p is not None:
            yield p


def reexports(code: str, here: tuple[str, ...]):
    for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", code):
        for leaf in expand_use_tree(m.group(1)):
            if "*" in leaf or " as " in leaf:
                continue
            segs = leaf.split("::")
            if segs[0] in ("crate", "super", "self"):
                p = absolute(leaf, here)
            else:
                p = tuple(list(here) + segs)
            if p:
                yield p


def sibling_edges(crate: Crate):
    """Edges between siblings, each module-to-module edge lifted to the
    children of the two modules' lowest common ancestor."""
    lifted: dict[tuple[str, ...], set[tuple[str, str]]] = {}
    why: dict[tuple[tuple[str, ...], str, str], tuple] = {}
    for src, dst in crate.edges():
        k = 0
        while k < min(len(src), len(dst)) and src[k] == dst[k]:
            k += 1
        if k == len(src) or k == len(dst):
            continue  # parent and descendant
        parent = src[:k]
        a, b = src[k], dst[k]
        lifted.setdefault(parent, set()).add((a, b))
        why.setdefault((parent, a, b), (src, dst))
    return lifted, why


def cycles(nodes_edges: set[tuple[str, str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for a, b in nodes_edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def name(p: tuple[str, ...]) -> str:
    return "::".join(p) or "crate"


def check_cycles(crate_dir: Path, label: str) -> list[str]:
    src = crate_dir / "src"
    if not (src / "lib.rs").exists():
        return []
    crate = Crate(src)
    lifted, why = sibling_edges(crate)
    problems = []
    for parent, edges in sorted(lifted.items()):
        for comp in cycles(edges):
            detail = []
            for a in comp:
                for b in comp:
                    if (a, b) in edges:
                        s, d = why[(parent, a, b)]
                        detail.append(f"{name(s)} uses {name(d)}")
            problems.append(
                f"{label}: module cycle in {name(parent)} between {', '.join(comp)} ({'; '.join(detail)})"
            )
    return problems


def workspace_members() -> list[Path]:
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return [ROOT] + [ROOT / m for m in manifest["workspace"]["members"]]


def check_service_deps() -> list[str]:
    services = {}
    for d in sorted(SERVICES.iterdir()):
        if (d / "Cargo.toml").exists():
            services[tomllib.loads((d / "Cargo.toml").read_text())["package"]["name"]] = d
    problems = []
    for pkg, d in services.items():
        manifest = tomllib.loads((d / "Cargo.toml").read_text())
        for section in ("dependencies", "dev-dependencies", "build-dependencies"):
            for dep in manifest.get(section, {}):
                if dep in services and dep != pkg:
                    problems.append(
                        f"{pkg}: depends on the service crate {dep} ({section}); services share only scout-proto and scout-common"
                    )
    return problems


def check_rooms() -> list[str]:
    problems = []
    for d in sorted(SERVICES.iterdir()):
        if not (d / "Cargo.toml").exists():
            continue
        for room in ROOMS:
            if not (d / "src" / room).exists():
                problems.append(f"services/{d.name}: has no src/{room}")
        main = d / "src" / "main.rs"
        if main.exists():
            code = strip_comments_and_strings(main.read_text())
            if len([l for l in code.splitlines() if l.strip()]) > 4 or "binary_main" not in code:
                problems.append(f"services/{d.name}/src/main.rs: should only call scout_common::service::binary_main")
        error = d / "src" / "error.rs"
        if error.exists() and "ApiError" not in error.read_text():
            problems.append(f"services/{d.name}/src/error.rs: does not map to the error table (ApiError)")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "--graph":
        crate = Crate(Path(argv[2]) / "src")
        lifted, _ = sibling_edges(crate)
        for a, b in sorted(lifted.get((), set())):
            print(f"{a} -> {b}")
        return 0
    problems = check_service_deps() + check_rooms()
    for member in workspace_members():
        label = member.relative_to(ROOT).as_posix() or "scout"
        problems += check_cycles(member, label)
    for p in problems:
        print(p)
    if problems:
        print(f"anatomy: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("anatomy: services independent, no module cycles, every service has its rooms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
