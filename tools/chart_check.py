#!/usr/bin/env python3
"""The Helm chart (helm/scout), checked offline: run by scripts/check-chart.sh.

For each values case (the chart's defaults, ci/gpu-values.yaml,
ci/minimal-values.yaml):

1. lint: `helm lint --strict` (Helm 4's own linter, through helm-python-sdk)
   against Kubernetes 1.33;
2. render: a client-side dry-run install (what `helm install --dry-run=client`
   renders, values.schema.json and `required` included), plus the hooks,
   which a dry run leaves out of the manifest;
3. kubernetes: every built-in object against Kubernetes 1.33's OpenAPI
   schemas in strict mode (kubernetes-validate, as `kubernetes-validate
   --strict -k 1.33.0`);
4. crds: the KEDA ScaledObject, ServiceMonitor and PrometheusRule objects
   against JSON schemas written from their CRDs (helm/scout/ci/crd-schemas/);
5. chart: what the chart promises the binary and the cluster: probes on
   /healthz and /readyz, the image's user, no service links (the binary refuses
   unknown SCOUT_* variables), secrets only from Secrets, selectors that match,
   KEDA's consumer groups and topics, the PrometheusRule being
   monitoring/alerts.yaml;
6. binary: with a scout binary at hand (SCOUT_BIN, target/release/scout or
   target/debug/scout), every SCOUT_* variable is one `scout config --env`
   lists, and `scout --config scout.toml config` accepts each container's
   config file and environment.

Then every file under helm/scout/ci/invalid/ must be refused, with the
message its `# expect:` line names.

Exit status 1 on any failure. `render` prints the objects of one values case
(for scripts/check-image.sh): `chart_check.py render [VALUES...]`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "scout"
CRD_SCHEMAS = CHART / "ci" / "crd-schemas"
ALERTS = ROOT / "monitoring" / "alerts.yaml"
KUBE_VERSION = "1.33.0"
RELEASE = "scout"
NAMESPACE = "scout"

CASES = {
    "defaults": [],
    "gpu": [CHART / "ci" / "gpu-values.yaml"],
    "minimal": [CHART / "ci" / "minimal-values.yaml"],
}
PORTS = {"edge": 8080, "identity": 50051, "tasks": 50052, "vision": 50053, "render": 50054, "publish": 50055}
# Variables that carry secrets: only ever from a secretKeyRef.
SECRET_ENV = {
    "SCOUT_AUTH_SERVICE_TOKEN", "SCOUT_CACHE_URL", "SCOUT_BLOBS_ACCESS_KEY", "SCOUT_BLOBS_SECRET_KEY",
    "SCOUT_IDENTITY_DATABASE_URL", "SCOUT_TASKS_DATABASE_URL", "SCOUT_PUBLISH_DATABASE_URL",
    "SCOUT_SMS_ALIYUN_ACCESS_KEY_ID", "SCOUT_SMS_ALIYUN_ACCESS_KEY_SECRET",
    "SCOUT_AI_VISION_MODEL_API_KEY", "SCOUT_AI_TEXT_MODEL_API_KEY", "SCOUT_VOICE_SEED_TTS_TOKEN",
    "SCOUT_BLOBS_SIGNING_KEY", "SCOUT_PLATFORMS_TOKEN_KEYS", "SCOUT_PLATFORMS_DOUYIN_CLIENT_SECRET",
    "SCOUT_PLATFORMS_YOUTUBE_CLIENT_SECRET", "SCOUT_PLATFORMS_TIKTOK_CLIENT_SECRET",
}
# Keys of the config file that would be secrets if set.
SECRET_KEYS = {
    ("cache", "url"), ("blobs", "access_key"), ("blobs", "secret_key"), ("blobs", "signing_key"),
    ("auth", "service_token"), ("identity", "database_url"), ("tasks", "database_url"),
    ("publish", "database_url"), ("sms", "aliyun_access_key_id"), ("sms", "aliyun_access_key_secret"),
    ("ai", "vision_model", "api_key"), ("ai", "text_model", "api_key"), ("voice", "seed_tts_token"),
    ("platforms", "token_keys"), ("platforms", "douyin", "client_secret"),
    ("platforms", "youtube", "client_secret"), ("platforms", "tiktok", "client_secret"),
}
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda-v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
}


def helm():
    """helm-python-sdk."""
    import helm_python

    helm_python.disable_logging()
    return helm_python


@contextlib.contextmanager
def helm_stderr():
    """Helm's Go logger writes an INFO line to fd 2 for every symlink it follows
    (files/alerts.yaml and files/dashboards/scout.json are links into
    monitoring/); keep everything else it says."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buf:
        os.dup2(buf.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            buf.seek(0)
            for line in buf.read().decode(errors="replace").splitlines():
                if "found symbolic link in path" not in line:
                    print(line, file=sys.stderr)


def load_values(files: list[Path]) -> dict[str, Any]:
    """The user-supplied values of `-f a.yaml -f b.yaml`: later files win, maps merge."""

    def merge(dst: dict, src: dict) -> dict:
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge(dst[k], v)
            else:
                dst[k] = copy.deepcopy(v)
        return dst

    out: dict[str, Any] = {}
    for f in files:
        merge(out, yaml.safe_load(f.read_text()) or {})
    return out


@dataclass
class Rendered:
    objects: list[dict]  # the release's objects, hooks included
    hooks: list[dict]
    notes: str


def is_hook(obj: dict) -> bool:
    return "helm.sh/hook" in ((obj.get("metadata") or {}).get("annotations") or {})


def parse_docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def render(values: dict[str, Any]) -> Rendered:
    """A client-side dry-run install, plus the hooks from an offline render.

    Raises helm_python's errors when the chart refuses the values.
    """
    h = helm()
    with helm_stderr(), h.Config(storage_driver="memory", kube_apiserver="https://127.0.0.1:1", namespace=NAMESPACE) as cfg:
        release = cfg.install(str(CHART), RELEASE, values, namespace=NAMESPACE, dry_run="client")
        objects = parse_docs(release["manifest"])
        with h.Chart.load(str(CHART)) as chart:
            templates = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    notes = ""
    offline: list[dict] = []
    for path, text in sorted(templates.items()):
        if path.endswith("NOTES.txt"):
            notes = text
        elif path.endswith((".yaml", ".yml")):
            offline.extend(parse_docs(text))
    hooks = [o for o in offline if is_hook(o)]
    # The install's manifest and the offline render must agree on the rest.
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    if sorted(map(key, objects)) != sorted(key(o) for o in offline if not is_hook(o)):
        raise RuntimeError("the dry-run install and the offline render disagree on the objects")
    return Rendered(objects=objects + hooks, hooks=hooks, notes=notes)


# ---------------------------------------------------------------- checks


@dataclass
class Report:
    name: str
    errors: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def error(self, msg: str) -> None:
        self.errors.append(msg)

    def note(self, msg: str) -> None:
        self.lines.append(msg)


def kn(o: dict) -> str:
    return f"{o.get('kind')}/{(o.get('metadata') or {}).get('name')}"


def check_lint(values: dict, rep: Report) -> None:
    h = helm()
    with helm_stderr():
        result = h.lint(
            str(CHART), values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}"
        )
    msgs = result.get("messages") or []
    # Strict: warnings count as errors, as with `helm lint --strict`.
    bad = [m for m in msgs if m.get("severity", 0) >= 2] + [{"error": e} for e in result.get("errors") or [] if e]
    for m in bad:
        rep.error(f"lint: {m.get('path', '')}: {m['error'].strip()}")
    infos = [m["error"] for m in msgs if m.get("severity", 0) < 2]
    rep.note(f"lint --strict: {'ok' if not bad else 'FAILED'}" + (f" ({'; '.join(infos)})" if infos else ""))


def check_kubernetes(objs: list[dict], rep: Report) -> None:
    from kubernetes_validate import utils as kv

    n = 0
    for o in objs:
        if (o.get("apiVersion"), o.get("kind")) in CUSTOM_KINDS:
            continue
        try:
            kv.validate(o, KUBE_VERSION, strict=True)
            n += 1
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            rep.error(f"kubernetes {KUBE_VERSION}: {kn(o)}: {path}: {e.message}")
        except kv.SchemaNotFoundError as e:
            rep.error(f"kubernetes {KUBE_VERSION}: {kn(o)}: {e.message}")
    rep.note(f"kubernetes {KUBE_VERSION} --strict: {n} objects valid")


def check_crds(objs: list[dict], rep: Report) -> None:
    import jsonschema

    counts: dict[str, int] = {}
    for o in objs:
        schema_file = CUSTOM_KINDS.get((o.get("apiVersion"), o.get("kind")))
        if not schema_file:
            continue
        schema = json.loads((CRD_SCHEMAS / schema_file).read_text())
        validator = jsonschema.Draft7Validator(schema)
        errs = sorted(validator.iter_errors(o), key=lambda e: list(e.path))
        for e in errs:
            rep.error(f"crd schema: {kn(o)}: {'.'.join(map(str, e.path))}: {e.message}")
        counts[o["kind"]] = counts.get(o["kind"], 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none rendered"
    rep.note(f"custom resources against their CRD schemas: {summary}")


def pod_specs(objs: list[dict]) -> list[tuple[dict, dict]]:
    out = []
    for o in objs:
        if o["kind"] in ("Deployment", "Job"):
            out.append((o, o["spec"]["template"]["spec"]))
    return out


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def config_maps(objs: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}


def check_chart(objs: list[dict], values: dict, rep: Report) -> None:
    """The chart's own promises (see the module doc)."""
    merged = helm_merge(values)
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    deployments = by_kind.get("Deployment", [])
    services = by_kind.get("Service", [])
    cms = config_maps(objs)
    run_as = merged["podSecurityContext"]["runAsUser"]

    # Security, service links, probes, arguments, secrets.
    for o, spec in pod_specs(objs):
        name = kn(o)
        if spec.get("enableServiceLinks") is not False:
            rep.error(f"{name}: enableServiceLinks must be false (Kubernetes' SCOUT_*_PORT variables stop the binary)")
        if spec.get("automountServiceAccountToken") is not False:
            rep.error(f"{name}: automountServiceAccountToken should be false")
        psc = spec.get("securityContext") or {}
        if psc.get("runAsUser") != run_as or psc.get("runAsNonRoot") is not True:
            rep.error(f"{name}: pod must run as uid {run_as}, non-root")
        for c in spec["containers"]:
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False:
                rep.error(f"{name}/{c['name']}: readOnlyRootFilesystem and no privilege escalation expected")
            if c.get("command") not in (None, ["scout"]):
                rep.error(f"{name}/{c['name']}: command {c.get('command')} is not the image's entrypoint")
            mounts = {m["mountPath"] for m in c.get("volumeMounts") or []}
            if "/tmp" not in mounts:
                rep.error(f"{name}/{c['name']}: no writable /tmp (the root filesystem is read-only)")
            for e in c.get("env") or []:
                if e["name"] in SECRET_ENV and "value" in e:
                    rep.error(f"{name}/{c['name']}: {e['name']} is a secret but has a literal value")
                if e["name"] in SECRET_ENV and "secretKeyRef" not in (e.get("valueFrom") or {}):
                    rep.error(f"{name}/{c['name']}: {e['name']} must come from a secretKeyRef")
            if o["kind"] == "Deployment":
                svc = c["name"]
                if svc not in PORTS:
                    rep.error(f"{name}: container {svc} is not a service")
                    continue
                if c.get("args") != ["serve", svc, "--config", "/etc/scout/scout.toml"]:
                    rep.error(f"{name}: args {c.get('args')}")
                ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
                if ports.get("http") != PORTS[svc]:
                    rep.error(f"{name}: port http should be {PORTS[svc]}, is {ports.get('http')}")
                for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                    got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                    if got != path:
                        rep.error(f"{name}: {probe} should GET {path}, gets {got}")
                if "/etc/scout" not in mounts:
                    rep.error(f"{name}: the config is not mounted at /etc/scout")
                if (c.get("lifecycle") or {}).get("preStop") is None:
                    rep.error(f"{name}: no preStop hook")

    # The config file: TOML, no secrets, drain inside the grace period.
    for cm_name in (f"{RELEASE}-config", f"{RELEASE}-migrate-config"):
        cm = cms.get(cm_name)
        if cm_name.endswith("-config") and not cm_name.endswith("migrate-config") and cm is None:
            rep.error(f"ConfigMap/{cm_name} is missing")
        if cm is None:
            continue
        try:
            cfg = tomllib.loads(cm["data"]["scout.toml"])
        except tomllib.TOMLDecodeError as e:
            rep.error(f"ConfigMap/{cm_name}: scout.toml is not TOML: {e}")
            continue
        for path in SECRET_KEYS:
            node: Any = cfg
            for p in path:
                node = node.get(p) if isinstance(node, dict) else None
            if node:
                rep.error(f"ConfigMap/{cm_name}: {'.'.join(path)} is a secret and must not be in the config file")
        for d in deployments:
            c = d["spec"]["template"]["spec"]["containers"][0]
            svc = c["name"]
            drain = parse_seconds(cfg.get(svc, {}).get("drain_timeout", "30s"))
            sleep = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
            grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            if drain + sleep >= grace:
                rep.error(f"{kn(d)}: preStop {sleep}s + drain {drain}s does not fit the {grace}s grace period")
            want = f"http://{RELEASE}-{svc}:{PORTS[svc]}"
            if svc != "edge" and cfg.get(svc, {}).get("endpoint") != want:
                rep.error(f"ConfigMap/{cm_name}: {svc}.endpoint should be {want}")

    # Every Service reaches a Deployment, every selector something real.
    pod_labels = [(kn(d), d["spec"]["template"]["metadata"]["labels"]) for d in deployments]
    for s in services:
        if not any(selects(s["spec"]["selector"], l) for _, l in pod_labels):
            rep.error(f"{kn(s)}: selects no Deployment's pods")
    for p in by_kind.get("PodDisruptionBudget", []):
        hits = [n for n, l in pod_labels if selects(p["spec"]["selector"]["matchLabels"], l)]
        if len(hits) != 1:
            rep.error(f"{kn(p)}: selects {hits or 'nothing'} (want exactly one Deployment)")
    for d in deployments:
        others = [n for n, l in pod_labels if n != kn(d) and selects(d["spec"]["selector"]["matchLabels"], l)]
        if others:
            rep.error(f"{kn(d)}: its selector also matches {others}")
    for np_ in by_kind.get("NetworkPolicy", []):
        if not any(selects(np_["spec"]["podSelector"]["matchLabels"], l) for _, l in pod_labels):
            rep.error(f"{kn(np_)}: applies to no pods")
        for rule in np_["spec"].get("ingress") or []:
            if not rule.get("from"):
                rep.error(f"{kn(np_)}: an ingress rule without `from` admits every source")
    dep_names = {d["metadata"]["name"] for d in deployments}
    for o in by_kind.get("HorizontalPodAutoscaler", []) + by_kind.get("ScaledObject", []):
        target = o["spec"]["scaleTargetRef"]["name"]
        if target not in dep_names:
            rep.error(f"{kn(o)}: scales {target}, which is not rendered")
        dep = next((d for d in deployments if d["metadata"]["name"] == target), None)
        if dep is not None and "replicas" in dep["spec"]:
            rep.error(f"{kn(dep)}: sets replicas although {kn(o)} owns the count")
    svc_ports = {s["metadata"]["name"]: {p["name"] for p in s["spec"]["ports"]} for s in services}
    for ing in by_kind.get("Ingress", []):
        ann = ing["metadata"].get("annotations") or {}
        grpc_backend = ann.get("nginx.ingress.kubernetes.io/backend-protocol", "HTTP").upper() == "GRPC"
        if grpc_backend and not ing["metadata"]["name"].endswith("-grpc"):
            rep.error(f"{kn(ing)}: a GRPC backend breaks REST and the web app; only the -grpc ingress may use it")
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                b = p["backend"]["service"]
                if b["port"].get("name") not in svc_ports.get(b["name"], set()):
                    rep.error(f"{kn(ing)}: backend {b['name']}:{b['port']} does not exist")
    for sm in by_kind.get("ServiceMonitor", []):
        hit = [s for s in services if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        if len(hit) != 1:
            rep.error(f"{kn(sm)}: selects {len(hit)} Services")
        for ep in sm["spec"]["endpoints"]:
            if ep.get("path") != "/metrics" or any(ep.get("port") not in svc_ports[s["metadata"]["name"]] for s in hit):
                rep.error(f"{kn(sm)}: endpoint {ep} is not a Service's /metrics")
    if merged["serviceMonitor"]["enabled"]:
        monitored = {sm["metadata"]["name"] for sm in by_kind.get("ServiceMonitor", [])}
        for svc in PORTS:
            if f"{RELEASE}-{svc}" not in monitored:
                rep.error(f"no ServiceMonitor for {svc}")

    # KEDA: the binary's consumer groups and topics.
    prefix = merged["kafka"]["topicPrefix"]
    jobs = {"vision": ("vision-analyze", "analyze"), "render": ("render-compose", "compose")}
    for so in by_kind.get("ScaledObject", []):
        target = so["spec"]["scaleTargetRef"]["name"]
        svc = "render" if target.startswith(f"{RELEASE}-render") else target.removeprefix(f"{RELEASE}-")
        group, topic = jobs.get(svc, (None, None))
        for t in so["spec"]["triggers"]:
            md = t["metadata"]
            if t["type"] != "kafka" or md.get("consumerGroup") != prefix + str(group) or md.get("topic") != prefix + str(topic):
                rep.error(f"{kn(so)}: trigger {t} is not {svc}'s group {prefix}{group} on {prefix}{topic}")
            if md.get("bootstrapServers") != merged["kafka"]["brokers"]:
                rep.error(f"{kn(so)}: bootstrapServers is not kafka.brokers")

    # One copy of the alerts.
    for pr in by_kind.get("PrometheusRule", []):
        if pr["spec"] != yaml.safe_load(ALERTS.read_text()):
            rep.error(f"{kn(pr)}: spec differs from monitoring/alerts.yaml")
    for cm in cms.values():
        if (cm["metadata"].get("labels") or {}).get("grafana_dashboard") == "1":
            for k, v in cm["data"].items():
                try:
                    json.loads(v)
                except json.JSONDecodeError as e:
                    rep.error(f"{kn(cm)}: {k} is not JSON: {e}")

    # The migration hook.
    if merged["migrate"]["enabled"]:
        jobs_ = [o for o in objs if o["kind"] == "Job"]
        if len(jobs_) != 1:
            rep.error(f"expected one migrate Job, found {len(jobs_)}")
        for j in jobs_:
            ann = j["metadata"]["annotations"]
            if set(ann.get("helm.sh/hook", "").split(",")) != {"pre-install", "pre-upgrade"}:
                rep.error(f"{kn(j)}: should be a pre-install,pre-upgrade hook")
            if "hook-delete-policy" not in " ".join(ann):
                rep.error(f"{kn(j)}: no hook-delete-policy")
            c = j["spec"]["template"]["spec"]["containers"][0]
            if (c.get("args") or [None])[0] != "migrate":
                rep.error(f"{kn(j)}: runs {c.get('args')}, not `scout migrate`")
            cfg_vol = [v for v in j["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
            cm_name = cfg_vol[0]["configMap"]["name"] if cfg_vol else None
            cm = cms.get(cm_name or "")
            if cm is None or not is_hook(cm) or int(cm["metadata"]["annotations"].get("helm.sh/hook-weight", "0")) >= int(ann.get("helm.sh/hook-weight", "0")):
                rep.error(f"{kn(j)}: its ConfigMap {cm_name} must be a hook created before it")

    # GPU render.
    for d in deployments:
        c = d["spec"]["template"]["spec"]["containers"][0]
        if c["name"] != "render":
            continue
        env = {e["name"]: e.get("value") for e in c.get("env") or []}
        gpu = merged["render"]["gpu"]["resourceName"] in ((c.get("resources") or {}).get("limits") or {})
        pool = d["spec"]["template"]["metadata"]["labels"].get("scout.dev/pool")
        if gpu != (pool == "gpu"):
            rep.error(f"{kn(d)}: pool {pool} but GPU resources {gpu}")
        if gpu and (env.get("SCOUT_MEDIA_GPU") == "off" or not c["image"].endswith(merged["image"]["gpu"]["tagSuffix"])):
            rep.error(f"{kn(d)}: a GPU pod needs the GPU image and media.gpu on")
        if not gpu and env.get("SCOUT_MEDIA_GPU") != "off":
            rep.error(f"{kn(d)}: a CPU render pod should set media.gpu = off")
        if env.get("SCOUT_MEDIA_WORK_DIR") not in {m["mountPath"] for m in c["volumeMounts"]}:
            rep.error(f"{kn(d)}: SCOUT_MEDIA_WORK_DIR is not a mounted volume")
    rep.note(f"chart rules (probes, security, selectors, secrets, KEDA, alerts, hooks): {'ok' if not rep.errors else 'see errors'}")


def parse_seconds(s: str) -> int:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for u in ("ms", "s", "m", "h"):
        if s.endswith(u) and s[: -len(u)].isdigit():
            return int(int(s[: -len(u)]) * units[u])
    raise ValueError(f"unreadable duration {s!r}")


def helm_merge(values: dict) -> dict:
    """The chart's defaults coalesced with values (as the install saw them)."""
    h = helm()
    with helm_stderr(), h.Chart.load(str(CHART)) as chart:
        return chart.merge_values(values)


def find_binary() -> Path | None:
    for cand in (os.environ.get("SCOUT_BIN"), ROOT / "target" / "release" / "scout", ROOT / "target" / "debug" / "scout"):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return Path(cand)
    return None


def check_binary(objs: list[dict], rep: Report, binary: Path | None) -> None:
    """Every container's config file and SCOUT_* variables, as the binary reads them."""
    if binary is None:
        rep.note("binary: skipped (no target/release/scout or target/debug/scout; set SCOUT_BIN)")
        return
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")}
    listed = subprocess.run([binary, "config", "--env"], capture_output=True, text=True, env=clean_env, check=True)
    known = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    cms = config_maps(objs)
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for o, spec in pod_specs(objs):
            vols = {v["name"]: v for v in spec.get("volumes") or []}
            for c in spec["containers"]:
                env = dict(clean_env)
                for e in c.get("env") or []:
                    if e["name"].startswith("SCOUT_") and e["name"] not in known:
                        rep.error(f"{kn(o)}/{c['name']}: {e['name']} is not a variable the binary knows")
                    env[e["name"]] = e["value"] if "value" in e else "placeholder-from-a-secret"
                cfg_mount = next((m for m in c.get("volumeMounts") or [] if m["mountPath"] == "/etc/scout"), None)
                cm_name = vols[cfg_mount["name"]]["configMap"]["name"] if cfg_mount else None
                args = c.get("args") or []
                conf_path = args[args.index("--config") + 1] if "--config" in args else None
                if conf_path != "/etc/scout/scout.toml" or cm_name not in cms:
                    rep.error(f"{kn(o)}/{c['name']}: --config is not the mounted ConfigMap's scout.toml")
                    continue
                f = Path(tmp) / f"{cm_name}.toml"
                f.write_text(cms[cm_name]["data"]["scout.toml"])
                r = subprocess.run([binary, "--config", f, "config"], capture_output=True, text=True, env=env, cwd=tmp)
                if r.returncode != 0:
                    rep.error(f"{kn(o)}/{c['name']}: the binary refuses its config: {r.stderr.strip()}")
                n += 1
    rep.note(f"binary ({binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary}): {n} containers' config and SCOUT_* variables accepted")


def check_case(name: str, files: list[Path], binary: Path | None, out: Path | None) -> Report:
    rep = Report(name)
    values = load_values(files)
    try:
        check_lint(values, rep)
        rendered = render(values)
    except Exception as e:  # the chart refused: report and move on
        rep.error(f"render: {type(e).__name__}: {e}")
        return rep
    objs = rendered.objects
    kinds: dict[str, int] = {}
    for o in objs:
        kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
    rep.note(f"rendered {len(objs)} objects ({len(rendered.hooks)} hooks): " + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())))
    if out is not None:
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "manifest.yaml").write_text(yaml.safe_dump_all(objs, sort_keys=False))
        (out / name / "NOTES.txt").write_text(rendered.notes)
    if "/api/v1/openapi.json" not in rendered.notes:
        rep.error("NOTES.txt does not say where the API and its OpenAPI document are")
    check_kubernetes(objs, rep)
    check_crds(objs, rep)
    check_chart(objs, values, rep)
    check_binary(objs, rep, binary)
    return rep


def check_config_roundtrip(rep: Report, binary: Path | None) -> None:
    """config/production.example.toml as `config` values comes back out of the
    chart's TOML writer unchanged (integers, floats, nested tables, inline
    tables, lists, non-ASCII strings), less what the chart sets itself."""
    example = tomllib.loads((ROOT / "config" / "production.example.toml").read_text())
    managed = {"addr", "endpoint", "database_url", "drain_timeout", "public_url"}
    refused = {"cache": {"url", "backend"}, "bus": {"backend", "brokers", "topic_prefix", "partitions", "replication"},
               "blobs": {"backend", "access_key", "secret_key", "endpoint", "region", "bucket", "force_path_style"},
               "auth": {"service_token", "signing_key_file"}, "sms": {"aliyun_access_key_id", "aliyun_access_key_secret"},
               "voice": {"seed_tts_token"}, "generative": {"api_token"}}
    config: dict[str, Any] = {}
    for section, body in example.items():
        if not isinstance(body, dict):
            config[section] = body
            continue
        drop = refused.get(section, set()) | (managed if section in PORTS else set())
        config[section] = {k: v for k, v in body.items() if k not in drop}
    for model in ("vision_model", "text_model", "image_model"):
        config["ai"][model].pop("api_key", None)
    try:
        objs = render({"config": config}).objects
    except Exception as e:  # noqa: BLE001
        rep.error(f"the production example's settings as values: {type(e).__name__}: {e}")
        return
    text = config_maps(objs)[f"{RELEASE}-config"]["data"]["scout.toml"]
    out = tomllib.loads(text)

    def walk(want: Any, got: Any, path: str) -> None:
        if isinstance(want, dict):
            for k, v in want.items():
                walk(v, got.get(k) if isinstance(got, dict) else None, f"{path}.{k}" if path else k)
        elif want != got or type(want) is not type(got):
            rep.error(f"config round trip: {path}: wrote {got!r}, values had {want!r}")

    walk(config, out, "")
    if binary is not None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")}
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(text)
            f.flush()
            r = subprocess.run([binary, "--config", f.name, "config"], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            rep.error(f"config round trip: the binary refuses it: {r.stderr.strip()}")
    rep.note(f"config/production.example.toml through `config` values: {'identical' if not rep.errors else 'differs'}"
             + (", accepted by the binary" if binary is not None and not rep.errors else ""))


def check_invalid(rep: Report) -> None:
    """Values the chart must refuse (values.schema.json or a template's fail)."""
    files = sorted((CHART / "ci" / "invalid").glob("*.yaml"))
    for f in files:
        expect = next((l.split(":", 1)[1].strip() for l in f.read_text().splitlines() if l.startswith("# expect:")), None)
        if not expect:
            rep.error(f"{f.name}: no `# expect:` line")
            continue
        try:
            render(load_values([f]))
        except Exception as e:  # noqa: BLE001 -- any refusal, checked by its message
            if expect not in str(e):
                rep.error(f"{f.name}: refused, but not for {expect!r}: {str(e).strip()}")
            else:
                rep.note(f"{f.name}: refused ({expect})")
            continue
        rep.error(f"{f.name}: the chart accepted it (expected a failure: {expect})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("render", help="print the objects of one values case as YAML (hooks included)")
    r.add_argument("values", nargs="*", type=Path)
    c = sub.add_parser("check", help="every check (the default)")
    c.add_argument("--out", type=Path, help="write each case's rendered objects here")
    args = ap.parse_args()

    if args.cmd == "render":
        print(yaml.safe_dump_all(render(load_values(args.values)).objects, sort_keys=False), end="")
        return 0

    out = getattr(args, "out", None)
    binary = find_binary()
    reports = [check_case(name, files, binary, out) for name, files in CASES.items()]
    trip = Report("config writer")
    check_config_roundtrip(trip, binary)
    reports.append(trip)
    neg = Report("invalid values")
    check_invalid(neg)
    reports.append(neg)
    failed = 0
    for rep in reports:
        status = "ok" if not rep.errors else f"FAILED ({len(rep.errors)})"
        print(f"== {rep.name}: {status}")
        for line in rep.lines:
            print(f"   {line}")
        for e in rep.errors:
            print(f"   error: {e}")
        failed += bool(rep.errors)
    print(f"chart check: {len(reports) - failed}/{len(reports)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
