"""Container and Kubernetes files, checked without a Docker daemon or a cluster: the Dockerfile's user,
health check, entry point and copied paths; the compose file's services and ordering; every manifest
against the Kubernetes schemas (strict), and the probes against the app's real routes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.cicd.conftest import ROOT

K8S = ROOT / "deploy" / "kubernetes"
K8S_VERSIONS = ["1.29.0", "1.33.0"]


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_runs_non_root_with_healthcheck_and_tether_entrypoint():
    ins = _instructions((ROOT / "Dockerfile").read_text())
    final = ins[max(i for i, (op, _) in enumerate(ins) if op == "FROM") :]
    users = [arg for op, arg in final if op == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    assert re.search(rf"useradd .*\b{users[-1]}\b", " ".join(a for op, a in final if op == "RUN"))
    health = [arg for op, arg in final if op == "HEALTHCHECK"]
    assert len(health) == 1 and "/api/v1/health" in health[0] and "5055" in health[0]
    entry = [arg for op, arg in final if op == "ENTRYPOINT"]
    cmd = [arg for op, arg in final if op == "CMD"]
    assert entry == ['["tether"]'] and cmd and cmd[-1].startswith('["server"')
    for op, arg in ins:
        if op == "COPY" and "--from=" not in arg:
            *sources, _dst = shlex.split(arg)
            for src in sources:
                assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"


def test_compose_migrates_once_before_the_server():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = doc["services"]
    assert {"tether", "migrate", "postgres", "minio"} <= set(svc)
    assert svc["migrate"]["command"] == ["db", "upgrade"] and svc["migrate"]["restart"] == "no"
    assert svc["tether"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "--migrate" not in svc["tether"]["command"]
    assert svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("tether", "migrate"):
        env = svc[name]["environment"]
        assert env["TETHER_DATABASE_URL"].startswith("postgresql") and env["TETHER_ARTIFACT_URI"].startswith(
            "s3://"
        )


def _manifests() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_against_kubernetes_schemas(version):
    kinds = set()
    for _name, doc in _manifests():
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError
        kinds.add(doc["kind"])
    assert {
        "Deployment",
        "Service",
        "Job",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Secret",
        "ConfigMap",
    } <= kinds


def test_strict_validation_catches_a_broken_manifest():
    dep = next(d for _, d in _manifests() if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(dep))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def _pod_specs():
    for _, doc in _manifests():
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["kind"], doc["spec"]["template"]["spec"]


def test_probes_point_at_real_public_routes(app, client):
    dep = next(d for _, d in _manifests() if d["kind"] == "Deployment")
    ctr = dep["spec"]["template"]["spec"]["containers"][0]
    probes = {k: ctr[k]["httpGet"]["path"] for k in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert probes["readinessProbe"] == "/api/v1/ready" and probes["livenessProbe"] == "/api/v1/health"
    rules = {r.rule for r in app.url_map.iter_rules()}
    for kind, path in probes.items():
        assert path in rules, f"{kind} {path} is not a route"
        assert client.get(path).status_code == 200  # no token: kubelet sends none
    port = ctr["ports"][0]
    assert port["name"] == "http" and port["containerPort"] == 5055 and "5055" in ctr["args"]


def test_pods_are_hardened_and_wired_to_secret_and_configmap():
    cm = next(d for _, d in _manifests() if d["kind"] == "ConfigMap")
    secret = next(d for _, d in _manifests() if d["kind"] == "Secret")
    from tether_server.config import Settings

    known = set(Settings.ENV.values()) | {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"}
    assert set(cm["data"]) <= known and set(secret["stringData"]) <= known
    assert not set(cm["data"]) & {
        "TETHER_SECRET_KEY",
        "PGPASSWORD",
        "TETHER_S3_SECRET_KEY",
        "TETHER_ADMIN_TOKEN",
    }
    kinds = []
    for kind, spec in _pod_specs():
        kinds.append(kind)
        assert (
            spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
        )
        ctr = spec["containers"][0]
        assert ctr["securityContext"]["allowPrivilegeEscalation"] is False
        assert ctr["resources"]["requests"] and ctr["resources"]["limits"]
        assert ctr["envFrom"][0]["configMapRef"]["name"] == cm["metadata"]["name"]
        refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in ctr["env"] if "valueFrom" in e}
        assert refs <= set(secret["stringData"]) and "TETHER_SECRET_KEY" in refs
        db = next(e["value"] for e in ctr["env"] if e["name"] == "TETHER_DATABASE_URL")
        names = [e["name"] for e in ctr["env"]]
        for var in re.findall(r"\$\((\w+)\)", db):  # $(VAR) expands only from earlier env or the ConfigMap
            assert var in cm["data"] or names.index(var) < names.index("TETHER_DATABASE_URL")
    assert sorted(kinds) == ["Deployment", "Job"]
    job = next(spec for kind, spec in _pod_specs() if kind == "Job")
    assert job["containers"][0]["args"] == ["db", "upgrade"] and job["restartPolicy"] == "Never"
    hpa = next(d for _, d in _manifests() if d["kind"] == "HorizontalPodAutoscaler")
    pdb = next(d for _, d in _manifests() if d["kind"] == "PodDisruptionBudget")
    dep = next(d for _, d in _manifests() if d["kind"] == "Deployment")
    assert (
        hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"] and hpa["spec"]["minReplicas"] >= 2
    )
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # drains can always proceed


def test_configmap_settings_parse(tmp_path):
    """The ConfigMap's TETHER_* values are accepted by the server's own settings parser."""
    from tether_server.config import Settings

    cm = next(d for _, d in _manifests() if d["kind"] == "ConfigMap")
    env = {k: v for k, v in cm["data"].items() if k.startswith("TETHER_")}
    s = Settings.from_env(env)
    assert (
        s.url_prefix == "/tether"
        and s.trusted_proxies == 1
        and s.public_url == "https://ml.example.com/tether"
    )
    ingress = next(d for _, d in _manifests() if d["kind"] == "Ingress")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == s.url_prefix
    assert Path(K8S / "30-migrate-job.yaml").read_text().count("kubectl") >= 2  # the documented order
