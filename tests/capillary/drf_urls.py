"""The project's routes with every Capillary call answered by its DRF view: what the plain views
of the hot calls (``capillary/plain.py``) are compared with (``test_plain_path.py``)."""

from django.urls import include, path

from capillary.urls import patterns
from rewards_site.urls import urlpatterns as project

urlpatterns = [path("", include(patterns(lambda api, **initkwargs: api.as_view(**initkwargs)))), *project]
