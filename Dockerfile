# Caseroom container image: `docker build -t caseroom .`
# Stage 1 builds a virtual environment with the locked dependencies; stage 2 copies only that
# environment into a clean slim image that runs as an unprivileged user.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/caseroom
ENV PATH=/opt/caseroom/bin:$PATH
WORKDIR /src
COPY pyproject.toml requirements-lock.txt README.md ./
COPY bot ./bot
COPY blocks ./blocks
# The lock pins every transitive version; a non-editable install leaves no source tree behind.
RUN pip install -c requirements-lock.txt . \
 && caseroom --version

FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="Caseroom" \
      org.opencontainers.image.description="Debitura collection cases in Slack"
# MALLOC_MMAP_THRESHOLD_: request bodies over 128 KiB get their own mappings, returned to the system
# when freed, so what a burst of large (refused) uploads leaves behind is +3 MB, not +18 MB
# (bench/RESULTS.md, "Doors under attack", run B).
ENV PATH=/opt/caseroom/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CASEROOM_PORT=3000 \
    MALLOC_MMAP_THRESHOLD_=131072
RUN groupadd --system --gid 10001 caseroom \
 && useradd --system --uid 10001 --gid caseroom --home-dir /app --shell /usr/sbin/nologin caseroom
COPY --from=build /opt/caseroom /opt/caseroom
WORKDIR /app
COPY manifest.yml ./
# /app/sandbox holds the sandbox's --state file (a volume in docker-compose.yml); owned by the app user.
RUN mkdir -p /app/sandbox && chown -R caseroom:caseroom /app
USER caseroom:caseroom
EXPOSE 3000
# /healthz: the process, Redis and (Socket Mode) the websocket. No curl in slim images: use Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('CASEROOM_PORT', '3000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
# caseroom handles SIGTERM itself (finishes in-flight work); exec form keeps it PID 1's only child.
STOPSIGNAL SIGTERM
CMD ["caseroom", "run"]
