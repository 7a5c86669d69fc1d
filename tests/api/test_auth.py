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


def test_repeated_failures_from_one_address_are_throttled_across_usernames(client):
    for n in range(20):
        login(client, f"someone{n}", "wrong password!",
              environ_base={"REMOTE_ADDR": "10.9.8.7"})
    UserFactory(username="ana")
    blocked = login(client, "ana", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert blocked.status_code == 429
    elsewhere = login(client, "ana", environ_base={"REMOTE_ADDR": "10.9.8.8"})
    assert elsewhere.status_code == 200


def test_throttling_holds_across_processes_sharing_the_database(tmp_path, keyring_path):
    """Two app instances (as two gunicorn workers) see the same failure count."""
    from referral import create_app
    from referral.extensions import db
    from tests.conftest import Client, test_config

    url = f"sqlite:///{tmp_path}/shared.sqlite3"
    first, second = (create_app(test_config(url, keyring_path)) for _ in range(2))
    with first.app_context():
        db.create_all()
        UserFactory(username="ana")
        db.session.commit()
    for worker in (first, second):
        worker.test_client_class = Client
    for n in range(5):
        worker = (first, second)[n % 2]
        assert login(worker.test_client(), "ana", "wrong password!").status_code == 401
    assert login(second.test_client(), "ana").status_code == 429
    assert login(first.test_client(), "ana").status_code == 429


def test_an_expired_token_is_refused(client, app):
    from datetime import timedelta

    from referral.extensions import db
    from referral.models import ApiToken

    UserFactory(username="ana")
    token = login(client, "ana").get_json()["token"]
    record = db.session.query(ApiToken).one()
    record.expires_at = record.expires_at - timedelta(days=2)
    db.session.flush()
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_tokens_are_stored_only_as_digests(client):
    from referral.extensions import db
    from referral.models import ApiToken

    UserFactory(username="ana")
    token = login(client, "ana").get_json()["token"]
    stored = db.session.query(ApiToken).one()
    assert token not in stored.digest and len(stored.digest) == 64
    assert len(token) >= 43  # 256 random bits, url-safe base64


def test_a_deactivated_user_cannot_use_a_token_or_log_in(client):
    from referral.extensions import db

    user = UserFactory(username="ana")
    token = login(client, "ana").get_json()["token"]
    user = db.session.merge(user)
    user.active = False
    db.session.flush()
    assert client.get("/api/v1/auth/me",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(client, "ana").status_code == 401


def test_users_create_cli(app):
    from tests.factories import BorderPostFactory

    BorderPostFactory(code="BP-SV-EL-AMATILLO")
    from referral.extensions import db

    db.session.commit()
    runner = app.test_cli_runner()
    env = {"REFERRAL_NEW_PASSWORD": "a long enough password"}
    ok = runner.invoke(args=["users", "create", "rosa", "--role", "promoter", "--facility",
                             "BP-SV-EL-AMATILLO"], env=env)
    assert ok.exit_code == 0, ok.output
    missing = runner.invoke(args=["users", "create", "luis", "--role", "promoter"], env=env)
    assert missing.exit_code != 0 and "facility" in missing.output
    short = runner.invoke(args=["users", "create", "eva", "--role", "manager"],
                          env={"REFERRAL_NEW_PASSWORD": "short"})
    assert short.exit_code != 0 and "password" in short.output
