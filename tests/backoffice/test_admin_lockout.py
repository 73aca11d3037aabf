"""Admin login lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords the right one is
refused too, until support staff unlock the account (README "Security"), through the real login
form."""

from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.backoffice.conftest import staff

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"


def log_in(client, username: str, password: str, *, address: str = "10.9.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.fixture
def locked_out(client, settings):
    """Staff member ``manager`` after five wrong passwords."""
    settings.AXES_FAILURE_LIMIT = 5
    staff("manager", None)
    for n in range(5):
        answer = log_in(client, "manager", f"wrong-{n}")
        assert answer.status_code in (200, 429) and not logged_in(client)
    return client


def test_after_five_wrong_passwords_the_right_one_is_refused(locked_out):
    answer = log_in(locked_out, "manager", "manager-pw")
    assert answer.status_code == 429
    assert "Account locked" in answer.content.decode()
    assert not logged_in(locked_out)
    # from another address too: the account is locked, not only the address
    assert log_in(locked_out, "manager", "manager-pw", address="10.9.0.2").status_code == 429


def test_support_finds_and_unlocks_an_account_by_username(locked_out):
    listed = StringIO()
    call_command("axes_list_attempts", stdout=listed)
    assert "manager" in listed.getvalue() and "10.9.0.1" in listed.getvalue()
    call_command("axes_reset_username", "manager")
    answer = log_in(locked_out, "manager", "manager-pw")
    assert answer.status_code == 302 and logged_in(locked_out)


def test_support_unlocks_an_account_in_the_admin(locked_out, admin_client):
    attempts = admin_client.get("/admin/axes/accessattempt/")
    assert "Locked Out" in attempts.content.decode()
    ids = list(AccessAttempt.objects.filter(username="manager").values_list("pk", flat=True))
    confirm = {"action": "delete_selected", "_selected_action": ids, "post": "yes"}
    assert admin_client.post("/admin/axes/accessattempt/", confirm).status_code == 302
    assert log_in(locked_out, "manager", "manager-pw").status_code == 302


def test_support_unlocks_an_address(client, settings):
    settings.AXES_FAILURE_LIMIT, settings.AXES_LOCKOUT_PARAMETERS = 5, ["ip_address"]
    staff("manager", None)
    for n in range(5):
        log_in(client, f"guess-{n}", "password", address="10.9.2.1")
    assert log_in(client, "manager", "manager-pw", address="10.9.2.1").status_code == 429
    call_command("axes_reset_ip", "10.9.2.1")
    assert log_in(client, "manager", "manager-pw", address="10.9.2.1").status_code == 302


def test_support_unlocks_every_account_at_once(locked_out):
    call_command("axes_reset")
    assert log_in(locked_out, "manager", "manager-pw").status_code == 302


def test_an_address_trying_many_names_is_locked_out_too(client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    staff("manager", None)
    for n in range(5):
        log_in(client, f"guess-{n}", "password", address="10.9.1.1")
    assert log_in(client, "manager", "manager-pw", address="10.9.1.1").status_code == 429
    assert log_in(client, "manager", "manager-pw", address="10.9.1.2").status_code == 302


def test_a_few_mistakes_then_the_right_password_log_in_and_start_afresh(client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    staff("manager", None)
    for _ in range(2):
        for n in range(4):
            log_in(client, "manager", f"wrong-{n}")
        assert log_in(client, "manager", "manager-pw").status_code == 302  # resets the count
        client.post("/admin/logout/")


def test_the_demo_admin_still_logs_in_through_the_form(client, settings):
    settings.DEBUG = True
    call_command("ensure_demo_admin")
    assert User.objects.filter(username="admin", is_superuser=True).exists()
    assert log_in(client, "admin", "admin").status_code == 302 and logged_in(client)


def test_the_readme_unlock_commands_unlock_as_they_say(client, settings):
    """The README's support-staff commands, read from the README and run as written (through
    ``call_command``, which is what ``python manage.py`` runs), placeholders filled in."""
    from tests import readme

    settings.AXES_FAILURE_LIMIT = 5
    staff("manager", None)
    fill = {"<username>": "manager", "<address>": "10.9.3.1"}

    def run(key: str) -> str:
        (command,) = readme.snippet(key)
        words = [fill.get(word, word) for word in command.text.split()]
        assert words[:3] == ["python", "manage.py", words[2]]
        out = StringIO()
        call_command(*words[2:], stdout=out)
        return out.getvalue()

    def lock(address: str = "10.9.3.1"):
        for n in range(5):
            log_in(client, "manager", f"wrong-{n}", address=address)
        assert log_in(client, "manager", "manager-pw", address=address).status_code == 429

    lock()
    assert "manager" in run("python manage.py axes_list_attempts")
    run("python manage.py axes_reset_username <username>")
    assert log_in(client, "manager", "manager-pw").status_code == 302
    client.logout()
    settings.AXES_LOCKOUT_PARAMETERS = ["ip_address"]
    lock()
    run("python manage.py axes_reset_ip <address>")
    assert log_in(client, "manager", "manager-pw", address="10.9.3.1").status_code == 302
    client.logout()
    lock()
    run("python manage.py axes_reset")
    assert log_in(client, "manager", "manager-pw", address="10.9.3.1").status_code == 302
