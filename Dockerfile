# Rewards engine: one image for the web (gunicorn), Celery worker and Celery beat.
#   docker build -t rewards-engine:local .
# Configuration comes from the environment at run time (see .env.example);
# nothing secret is baked into the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Production by default: with DEBUG off the settings refuse to start without SECRET_KEY.
ENV DEBUG=0
# Number of gunicorn sync workers; gunicorn reads WEB_CONCURRENCY itself.
ENV WEB_CONCURRENCY=4

WORKDIR /app

# Unprivileged user the processes run as. The code stays owned by root, so the
# running app cannot modify it.
RUN groupadd --system app \
    && useradd --system --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app

# Dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time. SECRET_KEY is a dummy that exists for
# this one command only (DEBUG=0 requires one); it is not kept in the image.
RUN SECRET_KEY=collectstatic-build-only-dummy-key DEBUG=0 python manage.py collectstatic --noinput

USER app

EXPOSE 8000

CMD ["gunicorn", "rewards_site.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "sync", "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
