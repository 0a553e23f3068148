# TuneTrail recommendation engine: one binary, `tunetrail`, on Debian 12.
#   docker build -t tunetrail .
#   docker run -p 8001:8001 -v tunetrail-data:/var/lib/tunetrail/data \
#              -v tunetrail-models:/var/lib/tunetrail/models tunetrail
# Package lists and setup steps live in deploy/docker/, where verify-runtime checks them
# against a clean Debian 12 root (README.md, "Docker").

# ---- build: compiler and -dev packages, then `make` ----
FROM debian:bookworm-slim AS build
COPY deploy/docker/apt-install deploy/docker/build-packages.txt /tmp/deploy/
RUN sh /tmp/deploy/apt-install /tmp/deploy/build-packages.txt
WORKDIR /src
COPY Makefile ./
COPY include ./include
COPY src ./src
RUN make -j"$(nproc)" build/tunetrail

# ---- runtime: the shared libraries the binary links, a non-root user, the binary ----
FROM debian:bookworm-slim
COPY deploy/docker/apt-install deploy/docker/runtime-packages.txt deploy/docker/runtime-setup.sh \
     /usr/local/share/tunetrail/
RUN sh /usr/local/share/tunetrail/runtime-setup.sh /usr/local/share/tunetrail
COPY deploy/docker/healthcheck /usr/local/bin/tunetrail-healthcheck
COPY --from=build /src/build/tunetrail /usr/local/bin/tunetrail

# The defaults of this image (README.md, "Configuration", lists every variable); one per line.
ENV DATABASE_URL=sqlite:////var/lib/tunetrail/data/tunetrail.db \
    MODEL_DIR=/var/lib/tunetrail/models \
    MODEL_TIER=full \
    HOST=0.0.0.0 \
    PORT=8001

USER tunetrail
WORKDIR /var/lib/tunetrail
VOLUME ["/var/lib/tunetrail/models", "/var/lib/tunetrail/data"]
EXPOSE 8001
# 503 (unhealthy) until models are trained: `tunetrail train`, or the engine's own schedule.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tunetrail-healthcheck"]
CMD ["tunetrail", "serve"]
