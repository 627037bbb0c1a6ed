"""openapi_check - the suite's requests and responses against doc/openapi.yaml.

apikit calls Contract.check() on every exchange, so every test file gets it:
- the response: its status must be declared for the operation (exactly, or as
  the web server's own 4XX/5XX answer for the statuses that response lists in
  x-clientsd-statuses), every required header present and every declared header
  valid, the media type declared, and the body valid against its schema
  (JSON Schema Draft 2020-12, python3-jsonschema);
- the request: when the document says it is invalid (a parameter, a header,
  the body, its media type, no credentials where the operation needs them, or
  a path or method no operation lists), the answer must be a 4xx.
Paths and methods that no operation lists are checked against the document's
x-clientsd-any-request responses (401, 404, 405).  HEAD is checked against the
path's `head` operation (every path that answers GET declares one), and a HEAD
answer must have no body.  The query key (`?admin_key=`) satisfies a bearerAuth
requirement when no Authorization header is sent: the document describes it as
the service's switch (x-clientsd-query-key), on in the test set-up.

It counts validated responses and the distinct (operation, status) pairs they
covered; summary() gives the line the run ends with (conftest.py), dump() adds
them to the run's log directory.
"""

import json
import os
import re
import threading
import urllib.parse

try:
    import yaml
    import jsonschema
except ImportError as e:       # pragma: no cover - the suite cannot run without them
    raise SystemExit("openapi_check needs python3-yaml and python3-jsonschema "
                     "(apt-get install python3-yaml python3-jsonschema): %s" % e)

DOC = os.environ.get("CLIENTSD_OPENAPI") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "doc", "openapi.yaml")
BASE = "/api/v1"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ANY = "(any request)"


class ContractError(AssertionError):
    """A response (or the answer to an invalid request) the document does not allow."""


def _reject_constant(name):
    raise ValueError("not JSON: " + name)


def _no_duplicates(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise ValueError("duplicate member %r" % k)
        seen.add(k)
    return dict(pairs)


def strict_json(raw):
    """Parses bytes as JSON the way the service does: UTF-8, no duplicate
    members, no NaN/Infinity.  Raises ValueError."""
    return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates,
                      parse_constant=_reject_constant)


class Contract:
    def __init__(self, path=DOC):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.components = self.doc.get("components", {})
        self.templates = []          # (segments, path template, path item)
        for tpl, item in self.doc["paths"].items():
            self.templates.append((tpl.strip("/").split("/"), tpl, item))
        self.declared = set()
        for tpl, item in self.doc["paths"].items():
            for m in METHODS:
                if m in item:
                    for st in item[m]["responses"]:
                        self.declared.add((m.upper() + " " + tpl, str(st)))
        self._validators = {}
        self._lock = threading.Lock()
        self.validated = 0
        self.pairs = {}

    # ---- the document ------------------------------------------------------

    def resolve(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/"):
                raise ContractError("external $ref %s" % ref)
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            obj = node
        return obj

    def validator(self, schema):
        """A Draft 2020-12 validator for schema, whose #/components/... refs
        resolve against the document (the wrapper carries its components)."""
        key = id(schema)
        with self._lock:
            v = self._validators.get(key)
            if v is None:
                wrapper = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                           "allOf": [schema], "components": self.components}
                v = jsonschema.Draft202012Validator(wrapper)
                self._validators[key] = (v, schema)
            else:
                v = v[0]
        return v

    def errors(self, schema, value):
        return ["%s at %s" % (e.message[:300], "/".join(str(p) for p in e.absolute_path) or "(root)")
                for e in self.validator(schema).iter_errors(value)]

    def route(self, method, path):
        """(operation key, operation, path params, path item) for a raw path
        (no query), or (None, None, None, path item or None)."""
        if not path.startswith(BASE + "/"):
            return None, None, None, None
        segs = path[len(BASE) + 1:].split("/")
        for tsegs, tpl, item in self.templates:
            if len(tsegs) != len(segs):
                continue
            params = {}
            for t, s in zip(tsegs, segs):
                if t.startswith("{") and t.endswith("}"):
                    params[t[1:-1]] = s
                elif urllib.parse.unquote(s, errors="replace") != t:
                    break
            else:
                m = method.lower()
                if m in item:
                    return "%s %s" % (m.upper(), tpl), item[m], params, item
                return None, None, None, item
        return None, None, None, None

    # ---- requests ------------------------------------------------------------

    def _param_value(self, schema, text):
        """The typed value of a query/path/header string for its schema."""
        schema = self.resolve(schema)
        t = schema.get("type")
        if t == "integer":
            return int(text) if re.fullmatch(r"[0-9]+", text) else text
        if t == "boolean":
            return {"true": True, "false": False}.get(text, text)
        return text

    def request_problems(self, method, target, headers, body):
        """Why the document calls this request invalid ([] when it does not)."""
        path, _, query = target.partition("?")
        key, op, pparams, item = self.route(method, path)
        if op is None:
            return ["no operation for %s %s" % (method, path)]
        probs = []
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        qs = {}
        for part in query.split("&") if query else ():
            name, eq, value = part.partition("=")
            if name in qs:
                continue                     # the service reads the first one
            try:
                qs[name] = urllib.parse.unquote_plus(value, errors="strict")
            except UnicodeDecodeError:
                qs[name] = None
        params = list(item.get("parameters", [])) + list(op.get("parameters", []))
        for p in map(self.resolve, params):
            name, where = p["name"], p["in"]
            if where == "path":
                try:
                    raw = urllib.parse.unquote(pparams[name], errors="strict")
                except UnicodeDecodeError:
                    probs.append("path %s not UTF-8" % name)
                    continue
                value = raw
            elif where == "query":
                if name not in qs:
                    continue
                value = qs[name]
                if value is None:
                    probs.append("query %s not UTF-8" % name)
                    continue
            elif where == "header":
                if name.lower() not in hdrs:
                    continue
                value = hdrs[name.lower()]
            else:
                continue
            errs = self.errors(p["schema"], self._param_value(p["schema"], value))
            if errs:
                probs.append("%s %s=%r: %s" % (where, name, value[:60], errs[0]))
        security = op.get("security", self.doc.get("security", []))
        if security and not any(self._satisfied(req, hdrs, qs) for req in security):
            probs.append("no credentials")
        probs += self._body_problems(op, hdrs, body)
        return probs

    def _satisfied(self, requirement, hdrs, qs):
        for name in requirement:
            scheme = self.components["securitySchemes"][name]
            if scheme["type"] == "http":
                auth = hdrs.get("authorization")
                alt = scheme.get("x-clientsd-query-key") or {}
                if auth is None and alt.get("in") == "query" and qs.get(alt.get("name")):
                    continue
                parts = (auth or "").split(None, 1)
                if len(parts) != 2 or parts[0].lower() != scheme["scheme"]:
                    return False
            elif scheme["type"] == "apiKey" and scheme["in"] == "query":
                if not qs.get(scheme["name"]):
                    return False
        return True

    def _body_problems(self, op, hdrs, body):
        rb = self.resolve(op.get("requestBody"))
        if rb is None:
            return []
        if not body:
            return ["no body"] if rb.get("required") else []
        ctype = hdrs.get("content-type")
        if ctype is None:
            return ["a body without Content-Type"]
        mtype, _, rest = ctype.partition(";")
        mtype = mtype.strip().lower()
        charset = rest.strip().lower()
        if charset and charset.replace('"', "") != "charset=utf-8":
            return ["Content-Type parameter %r" % rest.strip()]
        media = {k.lower(): v for k, v in rb["content"].items()}
        if mtype not in media:
            return ["Content-Type %s not declared" % mtype]
        try:
            value = strict_json(body)
        except ValueError as e:
            return ["body is not JSON: %s" % e]
        errs = self.errors(media[mtype]["schema"], value)
        return ["body: " + errs[0]] if errs else []

    # ---- responses -----------------------------------------------------------

    def _candidates(self, responses, status):
        """The declared responses that may describe this status, in order."""
        out = []
        if str(status) in responses:
            out.append((str(status), self.resolve(responses[str(status)])))
        rng = "%dXX" % (status // 100)
        if rng in responses:
            r = self.resolve(responses[rng])
            if status in r.get("x-clientsd-statuses", ()):
                out.append((rng, r))
        return out

    def _response_problems(self, spec, method, status, headers, raw):
        probs = []
        for name, h in (spec.get("headers") or {}).items():
            h = self.resolve(h)
            value = headers.get(name.lower())
            if value is None:
                if h.get("required"):
                    probs.append("header %s missing" % name)
                continue
            errs = self.errors(h["schema"], self._param_value(h["schema"], value))
            if errs:
                probs.append("header %s: %s" % (name, errs[0]))
        content = spec.get("content")
        if method == "HEAD" and raw:
            probs.append("a body in a HEAD answer")
        if not content:
            if raw and method != "HEAD":
                probs.append("a body where none is declared")
            if status == 304 and "content-type" in headers:
                probs.append("Content-Type %r on a 304 (RFC 9110 15.4.5: no body, "
                             "nothing to describe)" % headers["content-type"])
            return probs
        ctype = headers.get("content-type") or ""
        mtype = ctype.split(";")[0].strip().lower()
        media = {k.lower(): v for k, v in content.items()}
        if mtype not in media:
            return probs + ["Content-Type %r not declared (%s)" % (ctype, ", ".join(media))]
        if mtype == "application/json" and ctype != "application/json; charset=utf-8":
            probs.append("Content-Type %r" % ctype)
        if method == "HEAD":
            return probs
        if mtype.endswith("json"):
            try:
                value = strict_json(raw)
            except ValueError as e:
                return probs + ["body is not JSON: %s" % e]
        else:
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                return probs + ["body is not UTF-8"]
        return probs + ["body: " + e for e in self.errors(media[mtype]["schema"], value)[:3]]

    def check(self, method, target, req_headers, req_body, status, headers, raw):
        """Checks one exchange; raises ContractError.  headers: the response's,
        with lower-case names; req_headers None: the request is not known
        (only the response is checked).  Returns the (operation, status)
        pair counted."""
        path = target.partition("?")[0]
        key, op, _, item = self.route(method, path)
        if op is not None:
            responses = op["responses"]
        else:
            key = ANY
            responses = dict(self.doc["x-clientsd-any-request"]["responses"])
            if item is None:
                responses.pop("405")
            else:
                responses.pop("404")
            # The web server's own answers can come on any path.
            responses["4XX"] = responses["5XX"] = {"$ref": "#/components/responses/WebServerError"}
        cands = self._candidates(responses, status)
        where = "%s %s -> %d" % (method, target[:100], status)
        if not cands:
            raise ContractError("openapi: status %d not declared for %s (%s)" % (
                status, key, where))
        tried = []
        for st_key, spec in cands:
            probs = self._response_problems(spec, method, status, headers, raw)
            if not probs:
                break
            tried.append("as %s: %s" % (st_key, "; ".join(probs)))
        else:
            raise ContractError("openapi: %s for %s: %s" % (where, key, " | ".join(tried)))
        if req_headers is not None and not 400 <= status < 500:
            bad = self.request_problems(method, target, req_headers, req_body)
            if bad:
                raise ContractError("openapi: the document calls the request invalid (%s) "
                                    "but it was answered %d: %s" % ("; ".join(bad), status, where))
        with self._lock:
            self.validated += 1
            self.pairs[(key, st_key)] = self.pairs.get((key, st_key), 0) + 1
        return key, st_key

    def summary(self, label):
        covered = {p for p in self.pairs if p in self.declared}
        other = sum(n for p, n in self.pairs.items() if p not in self.declared)
        return ("openapi %s: %d responses validated against doc/openapi.yaml; "
                "%d of %d declared operation/status pairs covered; %d answers to "
                "paths or methods no operation lists" % (
                    label, self.validated, len(covered), len(self.declared), other))

    def dump(self, path, label):
        """Appends this run's pairs to a JSON-lines file, mode 0640 like
        every log of the run."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        with open(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps({"label": label, "validated": self.validated,
                                "declared": sorted("%s %s" % p for p in self.declared),
                                "pairs": {"%s %s" % p: n for p, n in self.pairs.items()}})
                    + "\n")
