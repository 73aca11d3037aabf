from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The outbox, its publisher and the webhooks (models in ``orgs``); an app for its Celery tasks."""

    name = "events"
