#!/bin/sh
# SeaweedFS `weed mini` as docker-compose.yml's S3 server: one identity with the configured keys
# (anonymous access refused), data on the s3-data volume, the S3 API on :8333.
set -eu
umask 077
cat > /tmp/identities.json <<JSON
{"identities": [{"name": "meshstream",
  "credentials": [{"accessKey": "${MESHSTREAM_S3_ACCESS_KEY}", "secretKey": "${MESHSTREAM_S3_SECRET_KEY}"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
exec weed mini -dir=/var/lib/meshstream/s3 -ip=127.0.0.1 -ip.bind=0.0.0.0 -s3.port=8333 \
  -s3.config=/tmp/identities.json -admin.ui=false -webdav=false \
  -master.volumeSizeLimitMB=64 -master.telemetry=false
