#!/usr/bin/env python3
"""validate-k8s.py: validates rendered Kubernetes manifests (helm template output) offline.

  validate-k8s.py --crds DIR --kube 1.25 --kube 1.37 FILE...

Every object is checked against a schema, or the run fails:
  built-in kinds   Kubernetes' own JSON schemas in their strict variant (unknown fields are
                   errors), as the PyPI package kubernetes-validate ships them, for each --kube
                   version (the chart's oldest supported minor and the newest known);
  custom kinds     the openAPIV3Schema of the CRD in DIR that serves the object's group,
                   version and kind (ServiceMonitor, PrometheusRule, ScaledObject), made strict
                   the same way (additionalProperties false wherever properties are listed,
                   unless the schema preserves unknown fields).
Every pod template (Deployment, StatefulSet, Job) must also meet the Pod Security Standard
"restricted" (v1.25 and later: non-root, seccomp RuntimeDefault or Localhost, no privilege
escalation, capabilities drop ALL and add at most NET_BIND_SERVICE, no host namespaces, ports
or paths, only the allowed volume types) and mount its root filesystem read-only.

Prints one line per object (ok/FAIL) and exits 1 when any failed, 2 on bad input.
"""
import argparse
import copy
import glob
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                   "persistentVolumeClaim", "projected", "secret"}


def strict(schema):
    """A copy of an OpenAPI v3 schema in which objects with listed properties refuse others."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(s)
    return s


def load_crds(directory):
    """(apiVersion, kind) -> strict schema, from every CRD file in directory."""
    schemas = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path) as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for v in crd["spec"]["versions"]:
                    schema = v.get("schema", {}).get("openAPIV3Schema")
                    if schema:
                        schemas[(f"{group}/{v['name']}", kind)] = strict(schema)
    return schemas


def pod_spec(obj):
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return None


def restricted(spec):
    """The violations of Pod Security 'restricted' (and of a read-only root) in a pod spec."""
    bad = []
    psc = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            bad.append(f"{host} is true")
    for vol in spec.get("volumes") or []:
        types = set(vol) - {"name"}
        if not types <= ALLOWED_VOLUMES:
            bad.append(f"volume {vol.get('name')} is of type {sorted(types - ALLOWED_VOLUMES)}")
    if psc.get("runAsUser") == 0:
        bad.append("pod runAsUser is 0")
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    for c in containers:
        sc = c.get("securityContext") or {}
        name = c.get("name")
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            bad.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            bad.append(f"{name}: runAsUser is 0")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{name}: seccompProfile is {seccomp}, not RuntimeDefault")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            bad.append(f"{name}: privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            bad.append(f"{name}: adds capabilities {caps.get('add')}")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            bad.append(f"{name}: uses a hostPort")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad.append(f"{name}: root filesystem is writable")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crds", required=True)
    ap.add_argument("--kube", action="append", required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    crds = load_crds(args.crds)
    failed = checked = 0
    for path in args.files:
        with open(path) as f:
            try:
                docs = [d for d in yaml.safe_load_all(f) if d]
            except yaml.YAMLError as e:
                print(f"FAIL {path}: not YAML: {e}")
                return 2
        for obj in docs:
            checked += 1
            name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
            errors = []
            key = (obj.get("apiVersion"), obj.get("kind"))
            if key in crds:
                v = jsonschema.Draft7Validator(crds[key])
                errors += [f"{'.'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(obj)]
                against = f"the {key[1]} CRD ({key[0]})"
            else:
                for kv in args.kube:
                    try:
                        kubernetes_validate.validate(obj, kv, strict=True)
                    except kubernetes_validate.ValidationError as e:
                        errors.append(f"k8s {kv}: {'.'.join(map(str, e.path))}: {e.message}")
                    except kubernetes_validate.SchemaNotFoundError as e:
                        errors.append(f"k8s {kv}: no schema: {e.message}")
                against = "Kubernetes " + ", ".join(args.kube) + " (strict)"
            spec = pod_spec(obj)
            if spec is not None:
                errors += [f"pod security: {b}" for b in restricted(spec)]
                against += ", Pod Security restricted"
            if errors:
                failed += 1
                print(f"FAIL {os.path.basename(path)}: {name}")
                for e in errors:
                    print(f"     {e}")
            else:
                print(f"ok   {os.path.basename(path)}: {name} against {against}")
    print(f"validate-k8s: {checked} objects, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
