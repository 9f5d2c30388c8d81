# One image for every service: bot, worker, beat, flower and the one-shot migrate job.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN groupadd --system app && useradd --system --gid app --home /app app

COPY pyproject.toml README.md ./
COPY common ./common
COPY worker ./worker
COPY bot ./bot
COPY sandbox ./sandbox
COPY scripts ./scripts
COPY beat_schedule.py ./
RUN pip install . && mkdir -p /app/var && chown -R app:app /app/var

USER app
# Each compose service sets its own command; this default runs the bot.
CMD ["python", "-m", "bot"]
