"""The API's surface: one error shape everywhere, health, and the OpenAPI document."""

from tests.factories import UserFactory


def test_health_answers_without_auth(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_unknown_path_is_404_in_our_shape(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "not_found", "message": "not found"}}


def test_wrong_method_is_405_in_our_shape(client):
    response = client.delete("/api/v1/auth/me")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_400(client, headers_for):
    headers = {**headers_for(UserFactory()), "Content-Type": "application/json"}
    response = client.post("/api/v1/cases", data="{not json", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_a_json_array_or_a_form_is_400(client, headers_for):
    headers = headers_for(UserFactory())
    assert client.post("/api/v1/cases", json=[1, 2], headers=headers).status_code == 400
    form = client.post("/api/v1/cases", data={"a": "b"}, headers=headers)
    assert form.status_code == 400 and form.get_json()["error"]["code"] == "bad_request"


def test_a_body_over_the_limit_is_413(client, headers_for):
    headers = headers_for(UserFactory())
    response = client.post("/api/v1/cases", data=b"x" * (5 * 1024 * 1024), headers={
        **headers, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_openapi_describes_every_endpoint_with_schemas(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method in {"get", "post", "patch", "delete", "put"}}
    routes = {(method, rule.rule.replace("<uuid:", "{").replace("<string:", "{")
               .replace(">", "}"))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              and not rule.rule.endswith("openapi.json")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes <= documented, routes - documented
    intake = spec["paths"]["/api/v1/cases"]["post"]
    body = intake["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/CaseIn")
    case_in = spec["components"]["schemas"]["CaseIn"]
    assert "subject" in case_in["properties"] and "consent" in case_in["required"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_roles_are_checked_before_the_body(client, headers_for):
    manager = headers_for(UserFactory(manager=True))
    assert client.post("/api/v1/cases", json={"nonsense": 1}, headers=manager).status_code == 403
    assert client.post("/api/v1/cases", json={"nonsense": 1}).status_code == 401
