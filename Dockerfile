# syntax=docker/dockerfile:1
FROM python:3.12-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=helpdesk.settings.production

WORKDIR /app

# Dependencies first, in their own layer: code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p helpdesk kb conversations \
    && touch helpdesk/__init__.py kb/__init__.py conversations/__init__.py \
    && pip install . \
    && pip uninstall -y helpdesk \
    && rm -rf helpdesk kb conversations

COPY . .
RUN pip install --no-deps . \
    && SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build.sqlite3 \
       python manage.py collectstatic --noinput \
    && SECRET_KEY=build-only ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build.sqlite3 \
       python manage.py compile_translations \
    && rm -f /tmp/build.sqlite3 \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin helpdesk \
    && mkdir -p /app/media \
    && chown -R helpdesk /app

USER 10001
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "--proxy-headers", "helpdesk.asgi:application"]
