# Daihou production image: gunicorn serves the portal, the same image runs the Celery
# worker, the (single) beat and the one-shot migration (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings

RUN useradd --create-home --uid 10001 daihou
WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
RUN pip install --no-cache-dir -c requirements/constraints.txt . && rm -rf build *.egg-info

COPY --chown=daihou:daihou . .
# collectstatic needs settings to import; these placeholders are used only at build time.
RUN DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && mkdir -p /data/media && chown daihou:daihou /data/media

USER daihou
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
