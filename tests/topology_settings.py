"""The web processes' settings in tests/test_topology.py: production settings, plus the MD5 hasher
with which the tests store till passwords (tests/conftest.py ``_fast_password_hashing``)."""

from django.conf import global_settings

from rewards_site.settings import *  # noqa: F403

PASSWORD_HASHERS = [*global_settings.PASSWORD_HASHERS, "django.contrib.auth.hashers.MD5PasswordHasher"]
