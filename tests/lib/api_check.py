"""api_check.py - call herald's HTTP API with urllib and check every answer
against docs/openapi.yaml: the status must be documented for that path and
method, and a JSON body must validate against its schema (jsonschema,
Draft 2020-12, which OpenAPI 3.1 schemas are).

    from api_check import Api
    api = Api("http://127.0.0.1:8026", spec_path, token)
    status, headers, body = api.call("POST", "/v1/messages", {...})
"""
import json
import re
import urllib.error
import urllib.request

import jsonschema
import yaml


class SpecError(AssertionError):
    pass


class Api:
    def __init__(self, base, spec_path, token=None):
        self.base = base.rstrip("/")
        self.token = token
        with open(spec_path) as f:
            self.spec = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.spec)
        for name, schema in self.spec["components"]["schemas"].items():
            jsonschema.Draft202012Validator.check_schema(schema)
        self.templates = []
        for path in self.spec["paths"]:
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", re.escape(path).replace(r"\{", "{")
                              .replace(r"\}", "}")) + "$"
            self.templates.append((re.compile(rx), path))
        self.checked = 0

    def operation(self, method, path):
        bare = path.split("?", 1)[0]
        for rx, template in self.templates:
            if rx.match(bare):
                op = self.spec["paths"][template].get(method.lower())
                if op is None:
                    raise SpecError("%s %s: method not in the spec" % (method, template))
                return template, op
        raise SpecError("%s: path not in the spec" % bare)

    def schema_of(self, op, status):
        resp = op["responses"].get(str(status))
        if resp is None:
            raise SpecError("status %d is not documented" % status)
        if "$ref" in resp:
            name = resp["$ref"].rsplit("/", 1)[1]
            resp = self.spec["components"]["responses"][name]
        content = resp.get("content", {}).get("application/json")
        return content["schema"] if content else None

    def validate(self, method, path, status, body, raw):
        template, op = self.operation(method, path)
        schema = self.schema_of(op, status)
        if schema is None:
            if raw.strip():
                raise SpecError("%s %s %d: a body where none is documented" % (method, template, status))
            return
        if body is None:
            raise SpecError("%s %s %d: no JSON body (%r)" % (method, template, status, raw[:200]))
        try:
            jsonschema.Draft202012Validator(schema, resolver=self.resolver).validate(body)
        except jsonschema.ValidationError as e:
            raise SpecError("%s %s %d: %s\n%s" % (method, template, status, e.message,
                                                  json.dumps(body)[:800]))
        self.checked += 1

    def call(self, method, path, body=None, token="default", headers=None, raw_body=None,
             content_type="application/json", check=True):
        data = raw_body if raw_body is not None else (
            json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        tok = self.token if token == "default" else token
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        if data is not None and content_type:
            req.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, hdrs, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, dict(e.headers), e.read()
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        if check:
            self.validate(method, path, status, parsed, text)
        return status, hdrs, parsed
