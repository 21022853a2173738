#!/usr/bin/env python3
"""Validates every pipeline config shipped in the repository against
config/schema.json, so editors and the loader never disagree on a file we
hand out.  Usage: check-schema.py SCHEMA CONFIG...  Exits 1 on the first
file that does not validate, naming the file, the JSON path and why."""
import json
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("check-schema: python3-jsonschema is missing (apt-get install python3-jsonschema)")


def main(argv):
    schema_path, configs = argv[1], argv[2:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    failed = 0
    for path in configs:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        for error in errors:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
            print(f"{path}: {where or '(top)'}: {error.message}")
            failed += 1
        if not errors:
            print(f"{path}: ok")
    if not configs:
        sys.exit("check-schema: no config given")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
