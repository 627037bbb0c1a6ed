#!/usr/bin/env python3
"""yaml2json.py IN.yaml - prints the YAML document as JSON, members in the
order written.  The build turns doc/openapi.yaml into doc/openapi.json with
it (python3-yaml); the release tarball ships the JSON, so building a release
needs neither.  Refuses YAML that has no JSON meaning (dates, non-string
keys other than response codes)."""

import json
import sys

import yaml


def plain(v, where="#"):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if isinstance(k, int) and not isinstance(k, bool):
                k = str(k)          # a response code written without quotes
            if not isinstance(k, str):
                sys.exit("yaml2json: key %r at %s is not a string" % (k, where))
            out[k] = plain(x, where + "/" + k)
        return out
    if isinstance(v, list):
        return [plain(x, "%s/%d" % (where, i)) for i, x in enumerate(v)]
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    sys.exit("yaml2json: %s is a %s, which JSON has not (quote it)" % (where, type(v).__name__))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: yaml2json.py IN.yaml")
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    sys.stdout.write(json.dumps(plain(doc), ensure_ascii=True, separators=(",", ":")))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
