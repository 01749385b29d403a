#!/usr/bin/env python3
"""The container images (Dockerfile, Dockerfile.gpu), checked without a Docker
engine: run by scripts/check-image.sh.

1. libraries: every shared library `ldd` resolves for the binary belongs to
   a Debian package the runtime image has: one of the Dockerfile's runtime
   packages (the block between `# BEGIN RUNTIME PACKAGES` and
   `# END RUNTIME PACKAGES`), something they depend on, or the slim base
   (Essential and Priority: required packages and their dependencies). The
   dependency closure comes from this machine's dpkg database, which is the
   same Debian 12 the image installs from.
2. the two Dockerfiles: the same runtime packages, user and entrypoint.
3. user and entrypoint: the image's USER is the chart's runAsUser (and
   runAsGroup), its ENTRYPOINT the chart's container command, and the chart
   only ever runs `serve <service>` or `migrate` (the chart rendered with its
   default values, and with ci/gpu-values.yaml for the GPU image).

Exit status 1 on any mismatch, naming the library and its package, or the
field that differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

DOCKERFILES = {"cpu": ROOT / "Dockerfile", "gpu": ROOT / "Dockerfile.gpu"}
PKG_RE = re.compile(r"^\s+([a-z0-9][a-z0-9+.-]+)\s*\\?\s*$")


def runtime_packages(dockerfile: Path) -> list[str]:
    """The package names of the runtime block, one a line."""
    lines = dockerfile.read_text().splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("# BEGIN RUNTIME PACKAGES"))
        end = next(i for i, l in enumerate(lines) if l.startswith("# END RUNTIME PACKAGES"))
    except StopIteration:
        raise SystemExit(f"{dockerfile.name}: no `# BEGIN RUNTIME PACKAGES` / `# END RUNTIME PACKAGES` block")
    return [m.group(1) for l in lines[start + 1 : end] if (m := PKG_RE.match(l))]


def final_stage(dockerfile: Path) -> dict[str, object]:
    """USER, ENTRYPOINT, CMD and the binary's path in the last stage."""
    text = dockerfile.read_text().replace("\\\n", " ")
    stages = re.split(r"(?m)^FROM\s", text)
    last = stages[-1]
    out: dict[str, object] = {}
    for line in last.splitlines():
        word, _, rest = line.strip().partition(" ")
        word = word.upper()
        if word == "USER":
            out["user"] = rest.strip()
        elif word in ("ENTRYPOINT", "CMD"):
            rest = rest.strip()
            out[word.lower()] = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
        elif word == "COPY" and "scout" in rest:
            out["binary"] = shlex.split(rest)[-1]
    return out


# ---------------------------------------------------------------- dpkg


class Dpkg:
    """This machine's dpkg database: installed packages, their dependencies, what they provide."""

    def __init__(self) -> None:
        fmt = "${Package}\\t${Essential}\\t${Priority}\\t${Depends}\\t${Pre-Depends}\\t${Provides}\\t${db:Status-Abbrev}\\n"
        out = subprocess.run(["dpkg-query", "-W", f"-f={fmt}"], capture_output=True, text=True, check=True).stdout
        self.deps: dict[str, list[list[str]]] = {}
        self.base: set[str] = set()
        self.providers: dict[str, set[str]] = {}
        for line in out.splitlines():
            name, essential, priority, depends, predepends, provides, status = (line.split("\t") + [""] * 7)[:7]
            if not status.startswith("ii"):
                continue
            self.deps[name] = parse_depends(predepends) + parse_depends(depends)
            for p in parse_depends(provides):
                self.providers.setdefault(p[0], set()).add(name)
            if essential == "yes" or priority == "required":
                self.base.add(name)

    def resolve(self, name: str) -> str | None:
        """An installed package for a dependency name (itself, or a provider of a virtual one)."""
        if name in self.deps:
            return name
        prov = sorted(self.providers.get(name, ()))
        return prov[0] if prov else None

    def closure(self, roots: set[str]) -> tuple[set[str], set[str]]:
        """(what apt installs for roots, the other alternatives of any `a | b` on the way).

        Of `a | b`, apt takes the first alternative unless another one is already
        there; the others are recorded because on this machine a library may
        come from one of them (its soname is what the first one ships too).
        """
        have: set[str] = set()
        alternatives: set[str] = set()
        todo = [r for r in roots]
        while todo:
            p = todo.pop()
            if p in have:
                continue
            have.add(p)
            for group in self.deps.get(p, []):
                resolved = [self.resolve(a) for a in group]
                present = [r for r in resolved if r and (r in have or r in roots)]
                pick = present[0] if present else next((r for r in resolved if r), None)
                alternatives.update(r for r in resolved if r and r != pick)
                if pick and pick not in have:
                    todo.append(pick)
        return have, alternatives - have

    def owner(self, path: str) -> str | None:
        """The package that ships a file (trying the /usr-merged twin and the real path)."""
        if not hasattr(self, "_files"):
            # dpkg's file lists, read once: path -> package (shared objects only).
            self._files: dict[str, str] = {}
            for lst in Path("/var/lib/dpkg/info").glob("*.list"):
                pkg = lst.stem.split(":")[0]
                for line in lst.read_text(errors="replace").splitlines():
                    if ".so" in line:
                        self._files.setdefault(line, pkg)
        real = os.path.realpath(path)
        candidates = [path, real]
        for p in (path, real):
            candidates.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
        for c in candidates:
            if c in self._files:
                return self._files[c]
        return None


def parse_depends(field: str) -> list[list[str]]:
    """`a (>= 1) | b:any, c` as [[a, b], [c]]: names only, no versions or architectures."""
    groups = []
    for part in field.split(","):
        part = part.strip()
        if not part:
            continue
        alts = []
        for alt in part.split("|"):
            name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip().split(":")[0]
            if name:
                alts.append(name)
        if alts:
            groups.append(alts)
    return groups


def ldd(binary: Path) -> tuple[dict[str, str], list[str]]:
    """{soname: resolved path} and the sonames ldd could not find."""
    r = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"ldd {binary} failed: {r.stderr.strip() or r.stdout.strip()}")
    found, missing = {}, []
    for line in r.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            rest = rest.strip()
            if rest.startswith("not found"):
                missing.append(name.strip())
            elif rest.startswith("/"):
                found[name.strip()] = rest.split()[0]
        elif line.startswith("/"):
            found[os.path.basename(line.split()[0])] = line.split()[0]  # the dynamic loader
    return found, missing


# ---------------------------------------------------------------- checks


def check_libraries(binary: Path, packages: list[str], errors: list[str]) -> None:
    db = Dpkg()
    unknown = [p for p in packages if p not in db.deps]
    for p in unknown:
        # A runtime package this machine lacks: its dependencies cannot be
        # followed, so the libraries it would bring are not counted.
        errors.append(f"runtime package {p} is not installed here: cannot follow its dependencies "
                      f"(apt-get install {p}, or fix the name)")
    base, base_alts = db.closure(set(db.base))
    image, image_alts = db.closure(set(db.base) | {p for p in packages if p in db.deps})
    libs, missing = ldd(binary)
    for soname in missing:
        errors.append(f"{soname}: ldd cannot find it for {binary} on this machine")
    counts = {"base": 0, "runtime list": 0, "dependency": 0, "alternative": 0}
    for soname, path in sorted(libs.items()):
        pkg = db.owner(path)
        if pkg is None:
            errors.append(f"{soname} ({path}): no Debian package ships it; the image cannot have it")
            continue
        if pkg in base:
            counts["base"] += 1
        elif pkg in packages:
            counts["runtime list"] += 1
        elif pkg in image:
            counts["dependency"] += 1
        elif pkg in image_alts or pkg in base_alts:
            counts["alternative"] += 1
        else:
            errors.append(f"{soname} ({path}) is in package {pkg}, which the runtime image does not install: "
                          f"add {pkg} (or a package that depends on it) to the RUNTIME PACKAGES block")
    print(f"   {len(libs)} libraries: " + ", ".join(f"{v} from {k}" for k, v in counts.items()))
    unused = [p for p in packages if p in db.deps and not any(db.owner(path) == p for path in libs.values())]
    print(f"   runtime packages the binary links directly or through them: {len(packages) - len(unused)}; "
          f"others (programs, fonts, certificates): {', '.join(unused) or 'none'}")


def check_chart(variant: str, stage: dict[str, object], errors: list[str]) -> None:
    import chart_check

    values_files = [] if variant == "cpu" else [chart_check.CHART / "ci" / "gpu-values.yaml"]
    rendered = chart_check.render(chart_check.load_values(values_files))
    user = str(stage.get("user", "root"))
    uid, _, gid = user.partition(":")
    if not uid.isdigit():
        errors.append(f"USER {user}: use a numeric uid (runAsNonRoot cannot check a name)")
        return
    entrypoint = stage.get("entrypoint")
    if entrypoint != ["scout"] or stage.get("binary") not in ("/usr/local/bin/scout", "/usr/bin/scout"):
        errors.append(f"ENTRYPOINT {entrypoint} should be [\"scout\"] with the binary on PATH (it is copied to {stage.get('binary')})")
    n = 0
    for o in rendered.objects:
        if o["kind"] not in ("Deployment", "Job"):
            continue
        spec = o["spec"]["template"]["spec"]
        psc = spec.get("securityContext") or {}
        for c in spec["containers"]:
            gpu_image = c["image"].endswith("-gpu")
            if (variant == "gpu") != gpu_image:
                continue
            n += 1
            where = f"{o['kind']}/{o['metadata']['name']}/{c['name']}"
            sc = c.get("securityContext") or {}
            run_as = sc.get("runAsUser", psc.get("runAsUser"))
            run_group = sc.get("runAsGroup", psc.get("runAsGroup"))
            if str(run_as) != uid:
                errors.append(f"{where}: runAsUser {run_as}, the image's USER is {uid}")
            if gid and run_group is not None and str(run_group) != gid:
                errors.append(f"{where}: runAsGroup {run_group}, the image's group is {gid}")
            command = c.get("command")
            if command is not None and command != entrypoint:
                errors.append(f"{where}: command {command}, the image's ENTRYPOINT is {entrypoint}")
            args = c.get("args") or []
            if not (args[:1] == ["migrate"] or (args[:1] == ["serve"] and len(args) > 1)):
                errors.append(f"{where}: args {args} are neither `serve <service>` nor `migrate`")
    if n == 0:
        errors.append(f"the chart runs no container from the {variant} image")
    print(f"   {variant} image: USER {user}, ENTRYPOINT {entrypoint}; {n} chart containers checked against it")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?", type=Path, help="default: target/release/scout, else target/debug/scout")
    args = ap.parse_args()
    binary = args.binary
    if binary is None:
        binary = next((p for p in (ROOT / "target/release/scout", ROOT / "target/debug/scout") if p.is_file()), None)
    if binary is None or not binary.is_file():
        print("error: no binary to check (build one, or name it)", file=sys.stderr)
        return 1

    errors: list[str] = []
    stages = {v: final_stage(f) for v, f in DOCKERFILES.items()}
    packages = {v: runtime_packages(f) for v, f in DOCKERFILES.items()}
    print(f"== image: {len(packages['cpu'])} runtime packages in Dockerfile: {' '.join(packages['cpu'])}")
    if packages["cpu"] != packages["gpu"]:
        errors.append(f"Dockerfile.gpu's runtime packages differ from Dockerfile's: "
                      f"{sorted(set(packages['cpu']) ^ set(packages['gpu']))}")
    for key in ("user", "entrypoint", "cmd", "binary"):
        if stages["cpu"].get(key) != stages["gpu"].get(key):
            errors.append(f"Dockerfile.gpu's {key} {stages['gpu'].get(key)} differs from Dockerfile's {stages['cpu'].get(key)}")
    print(f"== libraries of {binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary} (ldd), by Debian package")
    check_libraries(binary, packages["cpu"], errors)
    print("== user and entrypoint against the chart")
    for variant in ("cpu", "gpu"):
        check_chart(variant, stages[variant], errors)
    for e in errors:
        print(f"   error: {e}")
    print(f"image check: {'ok' if not errors else f'FAILED ({len(errors)})'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
