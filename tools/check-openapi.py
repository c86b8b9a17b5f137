#!/usr/bin/env python3
"""check-openapi.py: holds docs/openapi.yaml to the gateway's route table.

    check-openapi.py GATEWAY_BINARY [SPEC]

Validates the spec as OpenAPI 3.1 (openapi-spec-validator), then compares it with the table
`multica-api-gateway --routes` prints: every route is an operation of the spec and every
operation a route (same method and path, `:name` in the table being `{name}` in the spec),
and each operation's security matches the route's credential (none: no security; user: a
session JWT or a mul_ token; member: those or a mat_ task token). Every 4xx/5xx the spec
declares, and its `default`, answer the error shape. Run with the venv of tools/deps.sh
(CACHE/venv-api), as the `shipping` test suite does. Exits 1 on any finding."""
import re
import subprocess
import sys

import yaml
from openapi_spec_validator import validate

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
SECURITY = {
    "none": [],
    "user": ["personalAccessToken", "sessionJWT"],
    "member": ["personalAccessToken", "sessionJWT", "taskToken"],
}
ERROR_REF = "#/components/responses/Error"


def main():
    binary = sys.argv[1]
    spec_path = sys.argv[2] if len(sys.argv) > 2 else "docs/openapi.yaml"
    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    validate(spec)
    problems = []

    table = {}
    out = subprocess.run([binary, "--routes"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        method, path, cred = line.split()
        table[(method, re.sub(r":([a-z_]+)", r"{\1}", path))] = cred
    if not table:
        problems.append(f"{binary} --routes printed no route")

    ops = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                ops[(method.upper(), path)] = op

    for key in sorted(table.keys() - ops.keys()):
        problems.append(f"route {key[0]} {key[1]} is not in {spec_path}")
    for key in sorted(ops.keys() - table.keys()):
        problems.append(f"{spec_path} has {key[0]} {key[1]}, which is no route")
    for key in sorted(table.keys() & ops.keys()):
        op, cred = ops[key], table[key]
        want = SECURITY[cred]
        have = sorted(name for req in op.get("security", spec.get("security", [])) for name in req)
        if have != want:
            problems.append(f"{key[0]} {key[1]}: security {have}, the route takes {cred} {want}")
        for status, resp in op.get("responses", {}).items():
            refused = status == "default" or status[0] in "45"
            if refused and resp.get("$ref") != ERROR_REF:
                problems.append(f"{key[0]} {key[1]}: {status} is not the error shape")
        if "default" not in op.get("responses", {}):
            problems.append(f"{key[0]} {key[1]}: no default (error) response")

    for p in problems:
        print(f"FAIL {p}")
    print(f"openapi: {len(ops)} operations, {len(table)} routes, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
