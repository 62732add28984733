#!/usr/bin/env python3
"""Validates entra-source's `format = "ocsf"` events with pydantic-ocsf (OCSF's schemas as models).

Reads NDJSON events (a path, or stdin), validates each against the OCSF class its class_uid
names, in the schema version its metadata.version names, and additionally rejects:
  - any key the schema does not define, at any depth (pydantic-ocsf keeps unknown keys as
    "extra"; only `unmapped`, OCSF's place for source fields, may hold them),
  - a type_uid other than class_uid * 100 + activity_id,
  - a missing metadata.product.name / vendor_name or metadata.version.
With --require-classes, every listed class_uid must occur at least once.
Prints one line per problem and a summary; exits 1 if anything failed.
"""

import argparse
import collections
import json
import sys

from pydantic import BaseModel, ValidationError

CLASSES = {
    3002: "Authentication",
    3001: "AccountChange",
    3004: "EntityManagement",
    3005: "UserAccess",
    3006: "GroupManagement",
    2004: "DetectionFinding",
    5001: "InventoryInfo",
    5003: "UserInventory",
    6002: "ApplicationLifecycle",
    6008: "ApplicationError",
    6003: "ApiActivity",
    4001: "NetworkActivity",
}


# OCSF's http_method values (objects.http_request.http_method.enum).
HTTP_METHODS = ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "TRACE", "PATCH"]


def extras(model, path):
    """Every key the schema does not define, below `model` (unmapped excluded)."""
    found = []
    for key in (model.model_extra or {}):
        found.append(f"{path}.{key}".lstrip("."))
    for name, value in model:
        alias = type(model).model_fields[name].alias or name if name in type(model).model_fields else name
        if alias == "unmapped":
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, BaseModel):
                sub = f"{path}.{alias}" + (f"[{i}]" if isinstance(value, list) else "")
                found.extend(extras(item, sub))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?", default="-")
    ap.add_argument("--require-classes", default="")
    args = ap.parse_args()
    import importlib

    lines = sys.stdin if args.path == "-" else open(args.path, encoding="utf-8")
    problems = []
    seen = collections.Counter()
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"line {n}: not JSON: {e}")
            continue
        class_uid = event.get("class_uid")
        name = CLASSES.get(class_uid)
        if name is None:
            problems.append(f"line {n}: class_uid {class_uid!r} is not one entra-source maps to")
            continue
        meta = event.get("metadata") or {}
        version = meta.get("version")
        if not version:
            problems.append(f"line {n}: metadata.version is missing")
            continue
        product = meta.get("product") or {}
        if not product.get("name") or not product.get("vendor_name"):
            problems.append(f"line {n}: metadata.product needs name and vendor_name")
        try:
            module = importlib.import_module("ocsf.v" + version.replace(".", "_"))
        except ImportError:
            problems.append(f"line {n}: OCSF version {version} is not known to pydantic-ocsf")
            continue
        model = getattr(module.events, name)
        # pydantic-ocsf 3.0.0 types http_request.http_method, a string enum in OCSF (GET, POST,
        # ...), as an integer: the value is checked against the schema's list here instead.
        http = event.get("http_request")
        if isinstance(http, dict) and "http_method" in http:
            http = dict(http)
            method = http.pop("http_method")
            if method not in HTTP_METHODS:
                problems.append(f"line {n} ({name}): http_request.http_method {method!r} is not one of {HTTP_METHODS}")
            event = dict(event, http_request=http)
        try:
            parsed = model.model_validate(event)
        except ValidationError as e:
            first = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()[:5]
            )
            problems.append(f"line {n} ({name}): {first}")
            continue
        unknown = extras(parsed, "")
        if unknown:
            problems.append(f"line {n} ({name}): keys the schema does not define: {', '.join(unknown)}")
        activity = event.get("activity_id")
        if event.get("type_uid") != class_uid * 100 + (activity or 0):
            problems.append(
                f"line {n} ({name}): type_uid {event.get('type_uid')} != class_uid*100 + activity_id"
            )
        if "unmapped" not in event:
            problems.append(f"line {n} ({name}): the raw Graph record (unmapped) is missing")
        seen[class_uid] += 1

    if args.require_classes:
        for uid in (int(u) for u in args.require_classes.split(",")):
            if seen[uid] == 0:
                problems.append(f"no {CLASSES.get(uid, uid)} ({uid}) event in the sample")
    for p in problems[:50]:
        print(p)
    summary = ", ".join(f"{CLASSES[k]} ({k}): {v}" for k, v in sorted(seen.items()))
    print(f"validated {sum(seen.values())} events: {summary}; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
