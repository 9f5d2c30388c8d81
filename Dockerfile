# One image for every service: bot, worker, beat, flower and the one-shot migrate job.
# Installs exactly the locked production dependencies (requirements/prod.txt, `make lock` regenerates it);
# the local sandboxes, the embedded Redis of `make run`, benchmarks and tests are not in it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# A fixed non-root uid, so volumes and a host's file permissions can name it.
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home /app app

COPY requirements/prod.txt requirements/prod.txt
RUN pip install -r requirements/prod.txt

COPY pyproject.toml README.md beat_schedule.py ./
COPY common ./common
COPY worker ./worker
COPY bot ./bot
COPY scripts ./scripts
# /app/var/flower exists in the image so a fresh named volume mounted there starts owned by `app`.
# The compiled message catalogues are built, not committed (docs/i18n.md).
RUN pybabel -q compile -d common/i18n/locales -D messages && pip install --no-deps . \
    && mkdir -p /app/var/flower && chown -R app:app /app/var

USER app
# Each compose service sets its own command; this default runs the bot.
CMD ["python", "-m", "bot"]
