# One image for all three services. The command picks what runs:
#   paritrana serve enrolment|subsidy|award     (a service: API, consumers and workers)
#   paritrana migrate enrolment|subsidy|award|access|all
#   paritrana topics create | keys create|list|revoke | enrolment republish ... (operators' commands)

# --- build: a virtual environment with the pinned dependencies and the package, nothing else ---
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/paritrana
WORKDIR /src
# The lock alone first, so the dependency layer is reused until requirements.lock changes. It pins the whole
# tree; used as constraints, only the runtime dependencies are installed (the test extra stays out of the image).
COPY requirements.lock ./
COPY pyproject.toml ./
COPY paritrana ./paritrana
COPY shared ./shared
COPY services ./services
RUN /opt/paritrana/bin/pip install --constraint requirements.lock . \
    && /opt/paritrana/bin/pip uninstall --yes pip

# --- runtime: slim, non-root, no compiler, no source tree ---
FROM python:3.11-slim AS runtime
ARG UID=10001
RUN groupadd --system --gid "${UID}" paritrana \
    && useradd --system --uid "${UID}" --gid paritrana --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin paritrana
COPY --from=build /opt/paritrana /opt/paritrana
# Containers run in prod mode (placeholder secrets and unset database URLs are refused) and listen on every
# interface. PARITRANA_DATA_DIR points at /tmp, the one writable place when the root file system is read-only.
ENV PATH=/opt/paritrana/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PARITRANA_MODE=prod \
    PARITRANA_HOST=0.0.0.0 \
    PARITRANA_DATA_DIR=/tmp/paritrana
WORKDIR /tmp
USER 10001:10001
EXPOSE 8001 8002 8003
ENTRYPOINT ["paritrana"]
CMD ["--help"]
