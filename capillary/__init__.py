"""The Capillary wire format (Issue Reward, validation codes, OAuth tokens, the sandbox vendor): an
adapter that only translates. ``auth.py`` reads credentials and data scopes, ``apis.py`` the bodies
(views and serializers), ``render.py`` and ``errors.py`` write the answers; the calls themselves are
in ``catalogue`` (``services.rewards_issue``, ``validation_codes``) and ``orgs.credentials``."""
