#!/usr/bin/env bash
# Renders the Helm chart with Helm's own engine and validates every manifest
# against the Kubernetes schemas, for several value sets, asserting what the
# chart promises (deploy/helm/check.py). Run by .ci/run.
#
# Tools, from PyPI (no helm binary, no cluster, no network while it runs):
#   pip install 'helm-python-sdk==0.2.2' 'kubernetes-validate==1.37.0'
# helm-python-sdk binds Helm's Go SDK (v4) for rendering and linting;
# kubernetes-validate carries the Kubernetes OpenAPI schemas. Without them
# the test is skipped, saying so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PY=${COREKV_HELM_PYTHON:-python3}
if ! "$PY" -c 'import helm_python, kubernetes_validate, yaml, tomllib' 2>/dev/null; then
    echo "SKIPPED: deploy/helm/test.sh: $PY cannot import helm_python and kubernetes_validate" \
        "(pip install 'helm-python-sdk==0.2.2' 'kubernetes-validate==1.37.0'):" \
        "the chart was NOT rendered or validated"
    exit 0
fi
exec "$PY" deploy/helm/check.py
