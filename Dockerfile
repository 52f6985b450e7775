# One image for the simulator, the Locust master and the workers. No secrets are baked in:
# keys reach the users at run time through the environment (.env with docker compose).
# BASE_IMAGE: any Debian-based image with Python 3.11 (python3 -m venv); tests use a stand-in built
# by docker/standin-base.sh where no registry is reachable.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY requirements.txt .
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -q -r requirements.txt

COPY exchanges/ exchanges/
COPY simulator/ simulator/
COPY loadgen/ loadgen/
COPY locustfiles/ locustfiles/
COPY analysis/ analysis/
COPY docker/entrypoint.sh docker/

RUN useradd --create-home --uid 10001 loadtest && mkdir -p /app/results && chown loadtest /app/results
USER loadtest

EXPOSE 8000 8089 5557
CMD ["python", "-m", "simulator", "--host", "0.0.0.0", "--port", "8000"]
