"""Signing in and out of the pages, CSRF, headers, and the language switch."""

from referral.extensions import db
from referral.models import AuditEvent, User
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.web.conftest import TOKEN, Browser


def test_the_sign_in_page_is_spanish_by_default_and_allows_no_inline_script(browser):
    response = browser.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="es">' in html
    assert "Iniciar sesión" in html
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in html and " on" + "click=" not in html


def test_a_promoter_signs_in_to_the_intake_and_staff_to_the_inbox(app, signed_in):
    promoter, staff = UserFactory(), UserFactory(staff=True)
    assert signed_in(promoter).client.get("/").headers["Location"].endswith("/intake")
    assert signed_in(staff).client.get("/").headers["Location"].endswith("/inbox")


def test_a_wrong_password_signs_nobody_in_and_is_audited(browser):
    user = UserFactory()
    browser.get("/login")
    response = browser.post("/login", {"username": user.username, "password": "wrong" * 4})
    assert response.status_code == 401
    assert "Usuario o contraseña incorrectos" in response.get_data(as_text=True)
    assert browser.client.get("/intake").status_code == 302
    assert db.session.query(AuditEvent).filter_by(action="login_failed").count() == 1


def test_the_session_cookie_is_http_only_and_same_site(browser):
    user = UserFactory()
    response = browser.sign_in(user)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_signing_out_ends_the_session_even_for_a_copied_cookie(app, signed_in):
    user = UserFactory()
    web = signed_in(user)
    stolen = web.client.get_cookie("session").value
    assert web.client.get("/intake").status_code == 200
    web.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/intake").status_code == 302  # back to the sign-in page


def test_a_deactivated_account_loses_its_open_session(signed_in):
    user = UserFactory()
    web = signed_in(user)
    db.session.get(User, user.id).active = False
    db.session.commit()
    assert web.client.get("/intake").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(signed_in):
    user = UserFactory()
    web = signed_in(user)
    response = web.client.post("/language", data={"language": "fr"})
    assert response.status_code == 400
    assert "formulario" in response.get_data(as_text=True)
    assert db.session.get(User, user.id).locale == "es"


def test_the_api_over_the_session_cookie_needs_the_csrf_header(signed_in):
    web = signed_in(UserFactory())
    body = {"subject": {}, "consent": {"data_collection": True}}
    refused = web.client.post("/api/v1/cases", json=body)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "bad_request"
    assert "CSRF" in refused.get_json()["error"]["message"]
    accepted = web.client.post("/api/v1/cases", json=body, headers={"X-CSRFToken": web.token})
    assert accepted.status_code == 201


def test_bearer_clients_need_no_csrf_token(client, headers_for):
    user = UserFactory()
    body = {"subject": {}, "consent": {"data_collection": True}}
    assert client.post("/api/v1/cases", json=body, headers=headers_for(user)).status_code == 201


def test_after_sign_in_only_a_local_page_is_followed(app):
    user = UserFactory()

    def land(target):
        web = Browser(app.test_client())
        web.get("/login")
        return web.post("/login", {"username": user.username, "password": DEFAULT_PASSWORD,
                                   "next": target}).headers["Location"]

    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert land(target) == "/intake", target
    assert land("/inbox?page=2") == "/inbox?page=2"


def test_a_page_without_a_session_sends_to_sign_in_and_back(browser):
    response = browser.client.get("/intake")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/intake"


def test_the_chosen_language_stays_with_the_user(app, signed_in):
    user = UserFactory()
    web = signed_in(user)
    web.get("/intake")
    response = web.post("/language", {"language": "fr", "next": "/intake"})
    assert response.headers["Location"] == "/intake"
    assert '<html lang="fr">' in web.get("/intake").get_data(as_text=True)
    assert db.session.get(User, user.id).locale == "fr"
    elsewhere = signed_in(user)  # another tablet
    assert "Nouvel accueil" in elsewhere.get("/intake").get_data(as_text=True)


def test_before_sign_in_the_browser_language_is_followed(browser):
    html = browser.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(
        as_text=True)
    assert '<html lang="fr">' in html and "Se connecter" in html


def test_a_role_without_the_page_gets_a_page_saying_so(signed_in):
    web = signed_in(UserFactory(manager=True))
    response = web.get("/intake")
    assert response.status_code == 403
    assert "text/html" in response.headers["Content-Type"]


def test_a_browser_gets_an_unknown_address_as_a_page_and_the_api_as_json(client):
    page = client.get("/no-such-page", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "No encontrado" in page.get_data(as_text=True)
    api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html,*/*;q=0.8"})
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"


def test_a_failing_page_says_nothing_of_the_failure(app, signed_in, monkeypatch):
    from referral.services import intake

    web = signed_in(UserFactory())

    def broken(*args, **kwargs):
        raise RuntimeError("Rosa Mejía 1994-03-02")

    monkeypatch.setattr(intake, "get_case", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = web.get("/cases/7d4c1a52-3f1e-4a39-9f51-111111111111")
    assert response.status_code == 500 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Algo salió mal" in html and "Rosa" not in html


def test_outside_tests_and_the_demo_the_session_cookie_is_secure(app, keyring_path):
    from referral import create_app
    from tests.conftest import test_config

    served = create_app(test_config("sqlite://", keyring_path, TESTING=False))
    with served.app_context():
        db.create_all()
        user = UserFactory()
        db.session.commit()
        client = served.test_client()
        token = TOKEN.search(client.get("/login", base_url="https://referral.example")
                             .get_data(as_text=True)).group(1)
        response = client.post("/login", base_url="https://referral.example",
                               headers={"Referer": "https://referral.example/login"},
                               data={"csrf_token": token, "username": user.username,
                                     "password": DEFAULT_PASSWORD})
        cookie = response.headers["Set-Cookie"]
        assert response.status_code == 302
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        db.session.remove()


def test_only_a_changed_session_sets_the_cookie(signed_in):
    web = signed_in(UserFactory())
    # Answers that do not change the session leave the browser's cookie alone, so a slow
    # one cannot put back an older session over a newer one.
    for path in ("/static/app.css", "/sw.js", "/session.json", "/intake"):
        assert "Set-Cookie" not in web.client.get(path).headers, path
