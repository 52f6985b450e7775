# One image for the simulator, the Locust master and the workers. No secrets are baked in:
# keys reach the users at run time through the environment (.env with docker compose).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY exchanges/ exchanges/
COPY simulator/ simulator/
COPY loadgen/ loadgen/
COPY locustfiles/ locustfiles/
COPY analysis/ analysis/

RUN useradd --create-home --uid 10001 loadtest && mkdir -p /app/results && chown loadtest /app/results
USER loadtest

EXPOSE 8000 8089 5557
CMD ["python", "-m", "simulator", "--host", "0.0.0.0", "--port", "8000"]
