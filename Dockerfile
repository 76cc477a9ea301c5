# syntax=docker/dockerfile:1
# cartservice: multi-stage build; the runtime image has the installed wheel and nothing to build with.

# Pinned to a release of the base image; refresh the tag with the lock (scripts/lock.sh).
FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server ./server
COPY clients ./clients
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./clients/python .

FROM python:3.11.14-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CARTSERVICE_HOST=0.0.0.0 \
    CARTSERVICE_PORT=50051 \
    CARTSERVICE_DATA_DIR=/var/lib/cartservice
RUN useradd --system --uid 10001 --home-dir /var/lib/cartservice --create-home cartservice
COPY requirements/runtime.lock /tmp/runtime.lock
RUN pip install --no-cache-dir pip==26.3 \
    && pip install --no-cache-dir --require-hashes --no-deps -r /tmp/runtime.lock \
    && rm /tmp/runtime.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels && pip check
USER cartservice
WORKDIR /var/lib/cartservice
# The embedded database and its generated JWT secret outlive the container.
VOLUME /var/lib/cartservice
EXPOSE 50051
# `cartservice health` takes its port and TLS from the serve settings in the environment; with
# TLS, set CARTSERVICE_HEALTH_CA_FILE (and, for mutual TLS, CARTSERVICE_HEALTH_CERT_FILE and
# CARTSERVICE_HEALTH_KEY_FILE) unless the certificate chain holds its own root.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["cartservice", "health"]
ENTRYPOINT ["cartservice", "serve"]
