# Tether server image.
#   docker build -t tether .
#   docker run -p 5055:5055 -v tether-data:/data tether            # embedded SQLite, migrates on start
#   docker run --rm tether db upgrade                              # any tether command
# Stages: web assets (only when web/package.json exists) -> wheel -> slim runtime.

FROM node:20-slim AS web
WORKDIR /src/web
COPY web/ ./
RUN if [ -f package.json ]; then \
        if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi \
        && npm run build && rm -rf node_modules; \
    fi

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY client/ client/
COPY server/ server/
COPY migrations/ migrations/
COPY --from=web /src/web/ web/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TETHER_DATA_DIR=/data
COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir "$(ls /tmp/wheels/tether_server-*.whl)[postgres]" && rm -rf /tmp/wheels
# Fail the build, not the first start, if the wheel lost its migrations or templates.
RUN python -c "from importlib.resources import files; \
assert files('tether_server._migrations').joinpath('env.py').is_file(); \
assert files('tether_server._web').joinpath('templates').is_dir()"
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home tether \
    && mkdir -p /data && chown tether:tether /data
USER tether
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5055
# Liveness without curl in the slim image; Kubernetes uses its own probes (deploy/kubernetes/).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5055/api/v1/health', timeout=4).status != 200)"]
# `tether` is the one CLI (client verbs + server admin commands); compose and Kubernetes run
# `db upgrade` as a one-off migration and start `server` without --migrate.
ENTRYPOINT ["tether"]
CMD ["server", "--host", "0.0.0.0", "--port", "5055", "--migrate"]
