# Worker image: the locked dependencies, then the project.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps .
USER nobody
CMD ["meshstream", "worker"]
