#!/usr/bin/env python3
"""Renders the corekv chart with several value sets and checks the output.

Rendering uses Helm's own engine (the PyPI package helm-python-sdk binds
Helm's Go SDK; no helm binary, no cluster); every manifest is validated
against the Kubernetes OpenAPI schemas with kubernetes-validate --strict
(offline schemas) for the oldest and newest Kubernetes versions the chart
claims, and the facts the chart promises are asserted (StatefulSet, headless
Service, env, probes, PDB, NetworkPolicy). Run by deploy/helm/test.sh.
"""

import re
import sys
import tomllib
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "corekv"
RELEASE, NAMESPACE = "rel", "ns"
FULLNAME = "rel-corekv"
HEADLESS = "rel-corekv-headless"
POD_DOMAIN = f"{HEADLESS}.{NAMESPACE}.svc.cluster.local"
# Oldest (multi-pod needs the pod-index label: 1.28) and newest schemas.
KUBE_VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]

failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print(f"  FAIL: {what}")


def render(values):
    chart = helm.Chart.load(str(CHART))
    out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append(doc)
    return docs, out


def by_kind(docs):
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    return kinds


def validate(docs, label):
    for d in docs:
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                check(False, f"{label}: {d['kind']} {d['metadata']['name']} invalid for "
                             f"Kubernetes {version}: {e.message} at {list(e.path)}")
            else:
                check(True, "")


def env_of(sts):
    container = sts["spec"]["template"]["spec"]["containers"][0]
    return container, {e["name"]: e for e in container["env"]}


def common(label, docs, values, workers, replicas, auth=True):
    """Facts true of every render."""
    kinds = by_kind(docs)
    validate(docs, label)
    check(set(kinds) >= {"StatefulSet", "Service"}, f"{label}: StatefulSet and Services")
    check("Deployment" not in kinds, f"{label}: no Deployment")
    sts = kinds["StatefulSet"][0]
    spec = sts["spec"]
    check(spec["replicas"] == replicas, f"{label}: replicas {spec['replicas']} != {replicas}")
    check(spec["serviceName"] == HEADLESS, f"{label}: serviceName {spec['serviceName']}")
    services = {s["metadata"]["name"]: s for s in kinds["Service"]}
    check(set(services) == {FULLNAME, HEADLESS}, f"{label}: services {sorted(services)}")
    headless = services[HEADLESS]["spec"]
    check(headless.get("clusterIP") == "None", f"{label}: headless clusterIP None")
    check(headless.get("publishNotReadyAddresses") is True,
          f"{label}: headless publishNotReadyAddresses")
    core_names = [f"core-{i}" for i in range(workers)]
    check([p["name"] for p in headless["ports"]] == ["shared", "resp"] + core_names,
          f"{label}: headless ports {[p['name'] for p in headless['ports']]}")
    client_ports = [p["name"] for p in services[FULLNAME]["spec"]["ports"]]
    expect = ["shared", "resp"] + (core_names if replicas == 1 else [])
    check(client_ports == expect, f"{label}: client Service ports {client_ports} != {expect}")

    container, env = env_of(sts)
    names = [e["name"] for e in container["env"]]
    check(len(names) == len(set(names)), f"{label}: duplicate env {names}")
    # Dependent variables ($(X)) must name a variable defined before them.
    for i, e in enumerate(container["env"]):
        for ref in re.findall(r"\$\(([A-Z_]+)\)", e.get("value", "")):
            check(ref in names[:i], f"{label}: {e['name']} uses $({ref}) before it is defined")
    check(container["image"] == f"corekv:{app_version}", f"{label}: image {container['image']}")
    check([p["containerPort"] for p in container["ports"]]
          == [9888, 6379] + [9889 + i for i in range(workers)],
          f"{label}: container ports {container['ports']}")
    for probe in ("readinessProbe", "livenessProbe"):
        p = container.get(probe, {})
        check(p.get("exec", {}).get("command") == ["corekv-ping"], f"{label}: {probe} {p}")
        check("tcpSocket" not in p, f"{label}: {probe} is not a TCP probe")
    if values.get("workers"):
        check(env["COREKV_WORKERS"].get("value") == str(workers),
              f"{label}: COREKV_WORKERS {env['COREKV_WORKERS']}")
    else:
        check(env["COREKV_WORKERS"].get("valueFrom") == {"resourceFieldRef": {
            "resource": "limits.cpu", "divisor": "1"}},
            f"{label}: COREKV_WORKERS from the CPU limit: {env['COREKV_WORKERS']}")
    check(env["COREKV_BIND"]["value"] == "0.0.0.0", f"{label}: bind")
    check(env["COREKV_PIN"]["value"] == "auto", f"{label}: pin")

    cluster = {"COREKV_CLUSTER_SIZE", "COREKV_CLUSTER_INDEX", "COREKV_CLUSTER_PEERS"}
    if replicas > 1:
        check(env.get("COREKV_CLUSTER_SIZE", {}).get("value") == str(replicas),
              f"{label}: COREKV_CLUSTER_SIZE")
        check(env.get("COREKV_CLUSTER_INDEX", {}).get("valueFrom") == {"fieldRef": {
            "fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}},
            f"{label}: COREKV_CLUSTER_INDEX from the pod-index label")
        check(env.get("COREKV_CLUSTER_PEERS", {}).get("value")
              == f"{FULLNAME}-{{i}}.{POD_DOMAIN}:9888", f"{label}: COREKV_CLUSTER_PEERS "
              f"{env.get('COREKV_CLUSTER_PEERS')}")
        pdb = kinds.get("PodDisruptionBudget", [])
        check(len(pdb) == 1 and pdb[0]["spec"]["maxUnavailable"] == 1,
              f"{label}: a PodDisruptionBudget")
    else:
        check(not cluster & set(env), f"{label}: no cluster env with one pod")
        check("PodDisruptionBudget" not in kinds, f"{label}: no PDB with one pod")

    if auth:
        check(env.get("COREKV_REQUIREPASS_FILE", {}).get("value")
              == "/etc/corekv/auth/password", f"{label}: password file")
        mounts = container.get("volumeMounts", [])
        check([m["mountPath"] for m in mounts] == ["/etc/corekv/auth"], f"{label}: auth mount")
    else:
        check("COREKV_REQUIREPASS_FILE" not in env, f"{label}: no password without auth")
        check("Secret" not in kinds, f"{label}: no Secret without auth")
        check("volumes" not in sts["spec"]["template"]["spec"], f"{label}: no volumes")
    return kinds, env


def netpol_ports(kinds):
    np = kinds["NetworkPolicy"][0]
    rule = np["spec"]["ingress"][0]
    return np, rule, [p["port"] for p in rule["ports"]]


cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
app_version = chart_meta["appVersion"]
print(f"Helm SDK {helm.helm_sdk_version()}, kubernetes-validate schemas {KUBE_VERSIONS}")
check(app_version == cargo["workspace"]["package"]["version"],
      f"Chart appVersion {app_version} != Cargo.toml {cargo['workspace']['package']['version']}")

lint = helm.lint(str(CHART), strict=True)
errors = [m for m in lint["messages"] if m["severity"] >= 2] + lint["errors"]
check(not errors, f"helm lint --strict: {errors}")

print("default values")
docs, out = render({})
kinds, env = common("default", docs, {}, workers=2, replicas=1)
check(set(kinds) == {"StatefulSet", "Service", "Secret", "NetworkPolicy"},
      f"default: kinds {sorted(kinds)}")
check("COREKV_ANNOUNCE_HOST" not in env, "default: no announce host with one pod")
np, rule, ports = netpol_ports(kinds)
check(ports == [9888, 6379, 9889, 9890], f"default: NetworkPolicy ports {ports}")
peers = rule["from"]
check(peers[0] == {"podSelector": {"matchLabels": {
    "app.kubernetes.io/name": "corekv", "app.kubernetes.io/instance": RELEASE}}},
    f"default: corekv pods may reach each other: {peers[0]}")
check(peers[1] == {"podSelector": {"matchLabels": {"corekv-client": "true"}}},
      f"default: clients labelled corekv-client=true in the namespace: {peers[1]}")
check("rel-corekv" in out["corekv/templates/NOTES.txt"], "default: NOTES")

print("replicaCount=3")
docs, out = render({"replicaCount": 3})
kinds, env = common("replicas=3", docs, {}, workers=2, replicas=3)
check(env.get("COREKV_ANNOUNCE_HOST", {}).get("value") == f"$(POD_NAME).{POD_DOMAIN}",
      f"replicas=3: announce host {env.get('COREKV_ANNOUNCE_HOST')}")
check(env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}},
      "replicas=3: POD_NAME")
sts = kinds["StatefulSet"][0]
anti = sts["spec"]["template"]["spec"].get("affinity", {}).get("podAntiAffinity")
check(anti is not None, "replicas=3: pods spread across nodes")
check("6 nodes share" in out["corekv/templates/NOTES.txt"], "replicas=3: NOTES")

print("replicaCount=3, announceHost, announcePortBase, NodePort")
values = {"replicaCount": 3, "announceHost": "$(POD_IP)", "announcePortBase": 30001,
          "service": {"type": "NodePort"}, "spreadAcrossNodes": False}
docs, _ = render(values)
kinds, env = common("replicas=3 announce", docs, values, workers=2, replicas=3)
check(env["COREKV_ANNOUNCE_HOST"]["value"] == "$(POD_IP)", "announceHost as given")
check(env["COREKV_ANNOUNCE_PORT_BASE"]["value"] == "30001", "announcePortBase")
check("affinity" not in kinds["StatefulSet"][0]["spec"]["template"]["spec"],
      "spreadAcrossNodes=false: no affinity")

print("auth.enabled=false, networkPolicy.enabled=false")
values = {"auth": {"enabled": False}, "networkPolicy": {"enabled": False}}
docs, _ = render(values)
kinds, _ = common("auth off", docs, values, workers=2, replicas=1, auth=False)
check("NetworkPolicy" not in kinds, "networkPolicy.enabled=false: none")

print("workers=4, limits.cpu=4")
values = {"workers": 4, "resources": {"limits": {"cpu": "4", "memory": "2Gi"},
                                      "requests": {"cpu": "4", "memory": "2Gi"}}}
docs, _ = render(values)
kinds, _ = common("workers=4", docs, values, workers=4, replicas=1)
check(netpol_ports(kinds)[2] == [9888, 6379, 9889, 9890, 9891, 9892],
      "workers=4: NetworkPolicy lists 4 core ports")

print("limits.cpu=2500m (no workers): 3 core ports, as the downward API rounds up")
values = {"resources": {"limits": {"cpu": "2500m", "memory": "1Gi"}}}
docs, _ = render(values)
common("cpu 2500m", docs, values, workers=3, replicas=1)

print("existingSecret, clients from every namespace, extraFrom")
values = {"auth": {"existingSecret": "mine", "existingSecretKey": "pw"},
          "networkPolicy": {"clients": {"podLabels": None, "namespaceSelector": {}},
                            "extraFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}}
docs, _ = render(values)
kinds, _ = common("existingSecret", docs, values, workers=2, replicas=1)
check("Secret" not in kinds, "existingSecret: the chart makes no Secret")
vol = kinds["StatefulSet"][0]["spec"]["template"]["spec"]["volumes"][0]["secret"]
check(vol["secretName"] == "mine" and vol["items"][0]["key"] == "pw", f"existingSecret: {vol}")
_, rule, _ = netpol_ports(kinds)
check(rule["from"][1] == {"podSelector": {}, "namespaceSelector": {}},
      f"every pod of every namespace: {rule['from'][1]}")
check(rule["from"][2] == {"ipBlock": {"cidr": "10.0.0.0/8"}}, "extraFrom")

print("refused values")
for label, values, needle in [
    ("no CPU limit, no workers", {"resources": {"limits": {"cpu": None}}},
     "resources.limits.cpu"),
    ("replicaCount=0", {"replicaCount": 0}, "replicaCount must be at least 1"),
]:
    try:
        render(values)
    except helm.HelmError as e:
        check(needle in str(e), f"{label}: error names it: {e}")
    else:
        check(False, f"{label}: rendered, should fail")

print(f"{checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
