"""Queueing Celery tasks by name: a lower layer triggers a task defined above it without
importing it (one direction of dependency)."""

import logging

from celery import current_app

logger = logging.getLogger(__name__)


def task_named(name: str):
    """The task registered as ``name``. Outside a worker Celery imports the apps' ``tasks.py`` only
    when asked to: the first look-up of a process that has not imported them asks it to."""
    tasks = current_app.tasks
    if name not in tasks:
        current_app.loader.import_default_modules()  # autodiscover_tasks(): every app's tasks.py
    return tasks[name]


def task_send(name: str, *args) -> bool:
    """Queue the task registered as ``name`` without retrying the broker; False (logged) when the
    broker cannot take it. With eager Celery (tests, the embedded default) it runs here and now."""
    try:
        task_named(name).apply_async(args, retry=False)
    except Exception as exc:
        logger.warning("%s%s not queued (%s)", name, args, exc)
        return False
    return True


def tasks_eager() -> bool:
    """Whether tasks run in-process instead of through the broker."""
    return bool(current_app.conf.task_always_eager)
