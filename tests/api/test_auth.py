from tests.factories import DEFAULT_PASSWORD, UserFactory


def login(client, username, password=DEFAULT_PASSWORD, **kw):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       **kw)


def test_login_gives_a_token_that_identifies_the_user(client):
    user = UserFactory(username="ana")
    response = login(client, "ana")
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["username"] == "ana" and body["user"]["role"] == "promoter"
    assert body["expires_at"].endswith("Z")
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.get_json()["id"] == str(user.id)


def test_unknown_user_and_wrong_password_get_the_same_answer(client):
    UserFactory(username="ana")
    wrong = login(client, "ana", "not the password")
    unknown = login(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"]["code"] == "unauthorized"


def test_logout_revokes_the_token(client):
    UserFactory(username="ana")
    token = login(client, "ana").get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_repeated_failures_for_one_username_are_throttled(client):
    UserFactory(username="ana")
    for _ in range(5):
        assert login(client, "ana", "wrong password!").status_code == 401
    throttled = login(client, "ana")  # even the right password waits
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert throttled.get_json()["error"]["code"] == "rate_limited"
