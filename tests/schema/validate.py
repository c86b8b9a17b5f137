#!/usr/bin/env python3
"""Validates proto/ examples, and messages captured from the services in the tests, against the
JSON Schemas with a standard validator (python3-jsonschema, draft 2020-12).

    validate.py PROTO_DIR [CAPTURED_DIR ...]

Valid examples must pass; invalid examples must fail (a file that is not JSON counts as
failing). Each captured message must pass the schema its "type" names. Exit status 1 and one
line per problem otherwise."""
import glob
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

from jsonschema import Draft202012Validator, RefResolver  # noqa: E402


def load_schemas(proto):
    schemas = {}
    for path in sorted(glob.glob(os.path.join(proto, "schemas", "*.schema.json"))):
        with open(path) as f:
            schemas[os.path.basename(path)] = json.load(f)
    return schemas


def main():
    proto = sys.argv[1]
    schemas = load_schemas(proto)
    store = {s["$id"]: s for s in schemas.values()}
    validators, by_type = {}, {}
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        resolver = RefResolver(base_uri=schema["$id"], referrer=schema, store=store)
        validators[name] = Draft202012Validator(schema, resolver=resolver)
        t = schema.get("properties", {}).get("type", {})
        for type_name in ([t["const"]] if "const" in t else t.get("enum", [])):
            by_type[type_name] = name
    problems, checked = [], 0

    def errors(name, doc):
        return [e.message for e in validators[name].iter_errors(doc)]

    for name in schemas:
        base = name[: -len(".schema.json")]
        for kind in ("valid", "invalid"):
            for path in sorted(glob.glob(os.path.join(proto, "examples", base, kind, "*.json"))):
                checked += 1
                try:
                    with open(path) as f:
                        doc = json.load(f)
                    errs = errors(name, doc)
                except json.JSONDecodeError as e:
                    errs = ["not JSON: %s" % e]
                if kind == "valid" and errs:
                    problems.append("%s: should be valid: %s" % (path, errs[0]))
                if kind == "invalid" and not errs:
                    problems.append("%s: should be invalid but passes" % path)
        if name != "envelope.schema.json" and not glob.glob(
                os.path.join(proto, "examples", base, "valid", "*.json")):
            problems.append("%s: has no valid example" % name)

    captured = 0
    for d in sys.argv[2:]:
        for path in sorted(glob.glob(os.path.join(d, "**", "*.json"), recursive=True)):
            with open(path) as f:
                doc = json.load(f)
            name = by_type.get(doc.get("type"))
            captured += 1
            if name is None:
                problems.append("%s: unknown type %r" % (path, doc.get("type")))
                continue
            errs = errors(name, doc)
            if errs:
                problems.append("%s: produced message breaks %s: %s" % (path, name, errs[0]))

    for p in problems:
        print(p)
    print("schema check: %d examples, %d captured messages, %d problems"
          % (checked, captured, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
