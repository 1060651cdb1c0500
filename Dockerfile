FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tecwatch tecwatch
COPY devices devices
COPY ingest ingest
COPY gateway gateway
COPY alerts alerts
COPY api api
COPY simulators simulators
RUN pip install --no-cache-dir . && useradd --system tecwatch
USER tecwatch
ENTRYPOINT ["tecwatch"]
