"""TLS, security headers and the API docs: HSTS, SSL redirect, the proxy's TLS header and the
Content-Security-Policy come from env vars, off on the embedded default and the plain-http
compose stack, on as documented behind TLS; Swagger UI is served from this service's own static
files (drf-spectacular-sidecar), with DEBUG off through WhiteNoise too."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from coupons.models import CouponPool
from orgs.models import Org
from tests.test_project import ROOT, clean_env, read_settings

SECURITY_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_PROXY_SSL_HEADER",
    "CONTENT_SECURITY_POLICY",
    "CONTENT_SECURITY_POLICY_REPORT_ONLY",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)


def env_file(path: Path) -> dict:
    """KEY=VALUE lines of an env file (comments and commented-out values left out)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if re.match(r"^[A-Z_]+=", line))
    return dict(pairs)


def tls_block() -> dict:
    """The variables .env.example says to set behind TLS (its "Behind TLS" block, uncommented)."""
    text = (ROOT / ".env.example").read_text()
    block = text[text.index("# --- Behind TLS") :].split("\n\n", 1)[0]
    return dict(line[1:].split("=", 1) for line in block.splitlines() if re.match(r"^#[A-Z_]+=", line))


def test_the_embedded_default_sends_no_hsts_redirects_nothing_and_sets_no_csp():
    seen = read_settings(*SECURITY_SETTINGS)
    assert seen["SECURE_SSL_REDIRECT"] is False and seen["SECURE_HSTS_SECONDS"] == 0
    assert seen["SECURE_PROXY_SSL_HEADER"] is None
    assert seen["CONTENT_SECURITY_POLICY"] is None and seen["CONTENT_SECURITY_POLICY_REPORT_ONLY"] is None


def test_the_plain_http_compose_stack_keeps_them_off():
    seen = read_settings(*SECURITY_SETTINGS, **env_file(ROOT / ".env.docker.example"))
    assert seen["SECURE_SSL_REDIRECT"] is False and seen["SECURE_HSTS_SECONDS"] == 0
    assert seen["SESSION_COOKIE_SECURE"] is False and seen["CSRF_COOKIE_SECURE"] is False
    assert seen["CONTENT_SECURITY_POLICY"] is None


def test_behind_tls_the_documented_variables_turn_everything_on():
    env = {**env_file(ROOT / ".env.docker.example"), **tls_block()}
    seen = read_settings(*SECURITY_SETTINGS, **env)
    assert seen["SECURE_SSL_REDIRECT"] is True and seen["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert seen["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert seen["SESSION_COOKIE_SECURE"] is True and seen["CSRF_COOKIE_SECURE"] is True
    assert seen["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["default-src"] == ["'self'"]


@pytest.mark.parametrize("variable, value", [("CONTENT_SECURITY_POLICY", "on"), ("SECURE_PROXY_SSL_HEADER", "x")])
def test_a_wrong_value_refuses_to_start_with_a_clear_message(variable, value):
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean_env(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and variable in done.stderr


@pytest.fixture
def behind_tls(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000


@pytest.mark.django_db
def test_behind_tls_plain_http_is_redirected_except_the_healthcheck_and_https_gets_hsts(client, behind_tls):
    redirected = client.get("/admin/login/")
    assert redirected.status_code == 301 and redirected["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in redirected
    assert client.get("/healthz").status_code == 200  # the compose healthcheck speaks plain http
    secure = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.django_db
def test_without_tls_settings_no_redirect_and_no_hsts(client):
    answer = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert answer.status_code == 200 and "Strict-Transport-Security" not in answer
    assert "Content-Security-Policy" not in answer


@pytest.mark.django_db
@pytest.mark.parametrize(
    "setting, header",
    [
        ("CONTENT_SECURITY_POLICY", "Content-Security-Policy"),
        ("CONTENT_SECURITY_POLICY_REPORT_ONLY", "Content-Security-Policy-Report-Only"),
    ],
)
def test_the_content_security_policy_allows_this_origin_only(client, settings, setting, header):
    setattr(settings, setting, settings.CONTENT_SECURITY_POLICY_CONFIG)
    for path in ("/admin/login/", "/api/docs/"):
        directives = dict(part.strip().split(" ", 1) for part in client.get(path)[header].split(";"))
        assert directives["default-src"] == "'self'" and directives["connect-src"] == "'self'"
        assert directives["script-src"] == "'self'"  # no nonce asked for: no inline script at all
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


@pytest.mark.django_db
def test_the_policy_s_nonce_lets_the_page_s_own_inline_script_run(admin_client, settings):
    settings.CONTENT_SECURITY_POLICY = settings.CONTENT_SECURITY_POLICY_CONFIG
    pool = CouponPool.objects.create(id=9_001, org=Org.objects.create(id=1, name="Org"), name="Pool")
    page = admin_client.get(reverse("admin:coupons_couponpool_upload", args=[pool.pk]))
    assert page.status_code == 200, page.status_code
    [nonce] = re.findall(r"<script nonce=\"([^\"]+)\">", page.content.decode())
    assert f"'nonce-{nonce}'" in page["Content-Security-Policy"]


def test_swagger_ui_is_served_from_this_service_with_no_inline_script(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower() and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts), scripts
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    start_up = client.get("/api/docs/?script=")
    assert start_up.status_code == 200 and "SwaggerUIBundle" in start_up.content.decode()
    assert '"validatorUrl": null' in start_up.content.decode()


@pytest.mark.slow
def test_with_debug_off_collectstatic_and_whitenoise_serve_swagger_ui(tmp_path):
    env = clean_env(DEBUG="0", SECRET_KEY="static-files-test-key", STATIC_ROOT=str(tmp_path / "static"))
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").is_file()
    code = """
import django, re
django.setup()
from django.test import Client
client = Client()
page = client.get("/api/docs/")
assert page.status_code == 200, page.status_code
for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.content.decode()):
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    assert b"".join(answer.streaming_content), path
print("ok", page.content.decode().count("/static/"))
"""
    served = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "rewards_site.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.startswith("ok")
