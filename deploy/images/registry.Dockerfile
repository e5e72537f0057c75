# Apicurio Registry (KafkaSQL storage) from its Maven Central tarball, as the local stack fetches
# it (stack/fetch.py), on Debian's Java 17 runtime. Build context: the repository root.
# The default below must equal stack/versions.py (tests/unit/test_compose.py checks).
ARG APICURIO_VERSION=3.0.9

FROM debian:bookworm-slim AS fetch
# PEM certificates to trust while building (a TLS-intercepting proxy); empty for most users.
ARG EXTRA_CA_CERTS=""
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates maven \
 && if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" | awk '/BEGIN CERT/{n++} n{print > ("/tmp/extra-ca-" n ".pem")}' \
      && for f in /tmp/extra-ca-*.pem; do keytool -importcert -noprompt -cacerts -storepass changeit -alias "$f" -file "$f"; done; fi
ARG APICURIO_VERSION
RUN mvn -B -q dependency:get -Dartifact=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all -Dtransitive=false \
 && mkdir -p /opt/apicurio \
 && tar -xzf /root/.m2/repository/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz -C /opt/apicurio \
 && ls /opt/apicurio/*-runner.jar

FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10003 --home-dir /opt/apicurio --shell /usr/sbin/nologin apicurio
COPY --from=fetch /opt/apicurio /opt/apicurio
USER apicurio
WORKDIR /opt/apicurio
EXPOSE 8080
# configuration through Quarkus's environment names (APICURIO_STORAGE_KIND, APICURIO_KAFKASQL_*)
CMD ["sh", "-c", "exec java ${JAVA_OPTS:--Xmx384m} -jar /opt/apicurio/*-runner.jar"]
