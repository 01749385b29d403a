#!/usr/bin/env bash
# Checks the deployment offline (no cluster, no helm binary, no Docker):
#   - the alert rules: `promtool check rules monitoring/alerts.yaml` and their
#     unit tests, `promtool test rules monitoring/alerts.test.yaml`;
#   - the Helm chart (tools/chart_check.py): `helm lint --strict` and a
#     client-side dry-run render (Helm 4's library through helm-python-sdk)
#     with the default values, helm/scout/ci/gpu-values.yaml and
#     helm/scout/ci/minimal-values.yaml; every rendered object against
#     Kubernetes 1.33's schemas in strict mode (kubernetes-validate), the KEDA
#     ScaledObject, ServiceMonitor and PrometheusRule against their CRDs'
#     schemas (helm/scout/ci/crd-schemas/); the chart's own rules; with a
#     scout binary built, its config files and SCOUT_* variables as the binary
#     reads them; and the values under helm/scout/ci/invalid/ must be refused.
# Installs nothing: scripts/install.sh --test brings promtool (Debian's
# prometheus package) and the Python tools (tools/requirements.txt).
# CHART_OUT=DIR keeps each case's rendered objects.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PY="$ROOT/.venv/bin/python"
"$PY" -c "import helm_python, kubernetes_validate, jsonschema, yaml" 2>/dev/null \
  || die "the chart tools are missing from .venv: run scripts/install.sh --test"
have promtool || die "promtool is missing: run scripts/install.sh --test (Debian's prometheus package)"

say "alert rules: promtool check rules monitoring/alerts.yaml"
promtool check rules monitoring/alerts.yaml
say "alert rules: promtool test rules monitoring/alerts.test.yaml"
promtool test rules monitoring/alerts.test.yaml

OUT=${CHART_OUT:-$(mktemp -d)}
[ -n "${CHART_OUT:-}" ] || trap 'rm -rf "$OUT"' EXIT
say "chart: lint, render, Kubernetes 1.33 and CRD schemas, the chart's rules, refused values"
"$PY" tools/chart_check.py check --out "$OUT"
# The same Kubernetes check through the tool's own command line, on the files
# just rendered (custom resources are skipped here: checked above against
# their CRDs' schemas).
say "kubernetes-validate --strict -k 1.33.0 on the rendered manifests"
"$ROOT/.venv/bin/kubernetes-validate" --strict --quiet --no-warn -k 1.33.0 "$OUT"/*/manifest.yaml
say "chart checks passed"
