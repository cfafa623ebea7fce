# eqlwatch container: slim, non-root, exec-form entrypoint so SIGTERM reaches the scheduler
# (which finishes the window in flight and saves its checkpoint before exiting).
#   docker build -t eqlwatch .                 # the job image
#   docker build --target test -t eqlwatch-test .   # + dev tools and tests (compose "test" profile)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
# Dependencies first (cached while only the source changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY src ./src
RUN uv sync --locked --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 eqlwatch \
 && useradd --system --uid 10001 --gid eqlwatch --home-dir /app --shell /usr/sbin/nologin eqlwatch
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY queries ./queries
COPY templates ./templates
COPY jobs ./jobs
RUN mkdir -p /app/state /app/out /app/data && chown eqlwatch:eqlwatch /app/state /app/out /app/data
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
STOPSIGNAL SIGTERM
# Healthy while the daemon keeps finishing runs (it rewrites the heartbeat after each one).
HEALTHCHECK --interval=60s --timeout=10s --start-period=15m --retries=3 \
  CMD ["eqlwatch", "health", "--heartbeat", "/app/state/heartbeat", "--max-age", "30m"]
ENTRYPOINT ["eqlwatch"]
CMD ["run"]

FROM build AS test
# + the dev tools (--inexact keeps the project installed above).
RUN uv sync --locked --no-install-project --inexact
COPY tests ./tests
COPY queries ./queries
COPY templates ./templates
COPY jobs ./jobs
RUN groupadd --system --gid 10001 eqlwatch \
 && useradd --system --uid 10001 --gid eqlwatch --home-dir /app --shell /usr/sbin/nologin eqlwatch \
 && chown -R eqlwatch:eqlwatch /app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
USER 10001:10001
# Only the parameters that target a real cluster ("real" in their ids): needs ELASTICSEARCH_URL.
ENTRYPOINT ["pytest", "-p", "no:cacheprovider", "tests/backends", "-k", "real"]
