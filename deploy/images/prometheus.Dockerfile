# Prometheus from Debian's package, scraping every worker (deploy/prometheus.yml).
FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends prometheus curl \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o prometheus -g prometheus /var/lib/prometheus/data
COPY deploy/prometheus.yml /etc/prometheus/prometheus.yml
USER prometheus
VOLUME /var/lib/prometheus/data
EXPOSE 9090
CMD ["/usr/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml", \
     "--storage.tsdb.path=/var/lib/prometheus/data", "--web.listen-address=:9090"]
