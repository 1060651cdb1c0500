FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tecwatch tecwatch
COPY devices devices
COPY ingest ingest
COPY store store
COPY gateway gateway
COPY registry registry
COPY alerts alerts
COPY api api
COPY simulators simulators
RUN pip install --no-cache-dir . \
 && useradd --system tecwatch \
 && mkdir -p /var/lib/tecwatch && chown tecwatch /var/lib/tecwatch
# Heartbeats and the alert engine's day cache live here (a volume in docker-compose.yml).
ENV TECWATCH_DATA_DIR=/var/lib/tecwatch
USER tecwatch
ENTRYPOINT ["tecwatch"]
