"""The OpenAPI description at /api/v1/_openapi, made to say what the API does.

FAB builds the spec from each resource's docstrings; this view then:
* replaces FAB's error components ({"message": string}) with Sijill's one
  error shape (``app.api_errors``), under the same names, so every
  ``$ref: '#/components/responses/4xx'`` FAB's docstrings use stays right;
* adds to every operation the answers any of them can give: 400, 401, 403,
  404, 405, 422, 429, 500, and 409 for writes;
* describes the API-key header (``X-API-Key``) beside FAB's bearer schemes.
Swagger UI (/swagger/v1) is FAB's, behind its ``can_show`` permission, which
only ministry admins hold.
"""
from flask import current_app
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.api.manager import OpenApi, SwaggerView

from .api_errors import ERRORS

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "details"],
    "properties": {
        "code": {"type": "string", "enum": sorted(ERRORS), "description": "stable machine-readable code"},
        "message": {"type": "object", "required": ["ar", "en"],
                    "properties": {"ar": {"type": "string"}, "en": {"type": "string"}}},
        "details": {"type": "object", "description": "e.g. fields: {field: message}"},
    },
}
DESCRIPTIONS = {"400": "Bad request (malformed JSON, wrong content type)", "401": "Not authenticated",
                "403": "Forbidden", "404": "Not found", "405": "Method not allowed", "409": "Conflict",
                "413": "Too large", "422": "Invalid input or broken rule; nothing was saved",
                "429": "Rate limit exceeded (see Retry-After)", "500": "Unexpected error; nothing was saved"}
ALWAYS = ("400", "401", "403", "404", "405", "413", "422", "429", "500")
WRITES = ("post", "put", "delete", "patch")


def _naive_datetimes(node):
    """Timestamps are UTC without an offset ("2026-12-04T21:15:52"): JSON
    Schema's "date-time" demands an offset, so the format is described in
    words instead of claimed."""
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            node.pop("format")
            node.setdefault("description", "UTC timestamp, ISO 8601 without offset")
        for value in node.values():
            _naive_datetimes(value)
    elif isinstance(node, list):
        for value in node:
            _naive_datetimes(value)


def _nullable_relations(schemas):
    """A related row that is not set is dumped as null ("skill_level": null);
    FAB describes it as the nested object only."""
    for schema in schemas.values():
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict) and set(prop) == {"$ref"}:
                schema["properties"][name] = {"allOf": [prop], "nullable": True}


def reshape(spec):
    _naive_datetimes(spec.get("components", {}).get("schemas", {}))
    _nullable_relations(spec.get("components", {}).get("schemas", {}))
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    responses = components.setdefault("responses", {})
    for status, text in DESCRIPTIONS.items():
        responses[status] = {"description": text,
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                   "description": "seconds until the next window"}}
    components.setdefault("securitySchemes", {})["api_key_header"] = {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "the portal service account's key (flask sijill api-key create)"}
    for name, path in spec.get("paths", {}).items():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for answer in operation.get("responses", {}).values():
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {}) \
                    if isinstance(answer, dict) else {}
                props = schema.get("properties", {}) if isinstance(schema, dict) else {}
                # every primary key here is an integer; FAB writes "string"
                if isinstance(props.get("id"), dict) and props["id"].get("type") == "string":
                    props["id"]["type"] = "integer"
                if props.get("ids", {}).get("items") == {"type": "string"}:
                    props["ids"]["items"] = {"type": "integer"}
                # FAB's menu: "-" separators stand among the child entries
                childs = props.get("result", {}).get("items", {}).get("properties", {}).get("childs")
                if isinstance(childs, dict) and childs.get("type") == "array":
                    childs["items"] = {}
        if name.endswith("/_info") and "get" in path:
            # FAB documents add/edit_columns as objects; they are lists of fields
            info = path["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
            for key in ("add_columns", "edit_columns"):
                info[key] = {"type": "array", "items": {"type": "object"}}
        for method, operation in path.items():
            if not isinstance(operation, dict) or method not in ("get", "post", "put", "delete", "patch"):
                continue
            answers = operation.setdefault("responses", {})
            wanted = ALWAYS + (("409",) if method in WRITES else ())
            for status in wanted:
                answers.setdefault(status, {"$ref": f"#/components/responses/{status}"})
            # FAB's "x-" keys that are plain ints confuse validators: keep keys strings
            operation["responses"] = {str(k): v for k, v in answers.items()}
            if "security" in operation:
                operation["security"] = operation["security"] + [{"api_key_header": []}]
    return spec


class SijillOpenApi(OpenApi):
    class_permission_name = "OpenApi"

    @expose("/<version>/_openapi")
    @protect()
    @safe
    def get(self, version):
        """The OpenAPI description of one API version
        ---
        get:
          description: >-
            Get the OpenAPI spec for a specific API version
          parameters:
          - in: path
            schema:
              type: string
            name: version
          responses:
            200:
              description: The OpenAPI spec
              content:
                application/json:
                  schema:
                    type: object
        """
        api_spec = self._create_api_spec(version)
        found = False
        for base_api in current_app.appbuilder.baseviews:
            if isinstance(base_api, BaseApi) and base_api.version == version:
                base_api.add_api_spec(api_spec)
                found = True
        if not found:
            return self.response_404()
        return self.response(200, **reshape(api_spec.to_dict()))


def register(appbuilder):
    appbuilder.add_api(SijillOpenApi)
    appbuilder.add_view_no_menu(SwaggerView)
