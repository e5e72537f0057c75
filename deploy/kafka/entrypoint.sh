#!/bin/sh
# Kafka broker entrypoint: server.properties from the environment, storage formatted on first start.
#   KAFKA_CFG_<NAME>   a broker setting: KAFKA_CFG_NODE_ID=1 -> node.id=1 (underscores become dots)
#   KAFKA_CLUSTER_ID   the KRaft cluster id, the same on every node (formats the storage once)
#   KAFKA_HEAP_OPTS    JVM heap flags (default -Xmx512m -Xms512m)
set -eu
conf=/var/lib/kafka/server.properties
: > "$conf"
env | grep '^KAFKA_CFG_' | while IFS='=' read -r name value; do
  key=$(printf '%s' "${name#KAFKA_CFG_}" | tr 'A-Z_' 'a-z.')
  printf '%s=%s\n' "$key" "$value" >> "$conf"
done
grep -q '^log.dirs=' "$conf" || echo "log.dirs=/var/lib/kafka/data" >> "$conf"
logdir=$(sed -n 's/^log\.dirs=//p' "$conf" | cut -d, -f1)

cp="/opt/kafka/libs/*"
log4j="-Dlog4j.configuration=file:/opt/kafka/log4j.properties"
if [ ! -f "$logdir/meta.properties" ]; then
  : "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID (the same value on every node) to format the storage}"
  java $log4j -cp "$cp" kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$conf"
fi
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} -XX:+UseG1GC -Djava.awt.headless=true $log4j \
  -cp "$cp" kafka.Kafka "$conf"
