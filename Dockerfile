# Worker and CLI image (also the S3 server and the one-shot `init` service of docker-compose.yml):
# Debian's Python 3.11, the locked dependencies, then the project.
#
# Built FROM Debian's slim image; on a machine with no image registry, `deploy/compose_test.sh`
# makes that tag locally with debootstrap, so the same file builds in both places.
FROM debian:bookworm-slim

# PEM certificates to trust while building (a TLS-intercepting proxy); empty for most users.
ARG EXTRA_CA_CERTS=""
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt \
      && update-ca-certificates; fi \
 && python3 -m venv /opt/meshstream
ENV PATH=/opt/meshstream/bin:$PATH

# the dependency layer changes only with the lock file
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock

COPY . /opt/meshstream/src
RUN pip install --no-deps /opt/meshstream/src \
 && useradd --system --uid 10001 --home-dir /var/lib/meshstream --shell /usr/sbin/nologin meshstream \
 && install -d -o meshstream -g meshstream /var/lib/meshstream /var/lib/meshstream/spool /var/lib/meshstream/s3

# Everything a worker writes (Faust's table state, RocksDB tables, the publisher spool) goes under
# one absolute, writable directory: the image runs as an unprivileged user, and a relative path
# would land in a directory it cannot write. Named volumes mounted here inherit the ownership.
USER meshstream
WORKDIR /var/lib/meshstream
ENV HOME=/var/lib/meshstream \
    MESHSTREAM_DATA_DIR=/var/lib/meshstream/worker-data \
    MESHSTREAM_TABLE_DIR=/var/lib/meshstream/tables \
    MESHSTREAM_SPOOL_DIR=/var/lib/meshstream/spool
EXPOSE 6066
CMD ["meshstream", "worker"]
