# The gateway's image: the static binary and CA certificates, nothing else
# (no shell, no package manager, no Go toolchain). Both come from the build
# context, built on the host (see the README's Deployment):
#   CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=$(git describe --tags --always --dirty)" -o gateway .
#   cp /etc/ssl/certs/ca-certificates.crt . && podman build -t botpenguin-gateway .
FROM scratch
ARG VERSION=devel
LABEL org.opencontainers.image.title="botpenguin-gateway" \
      org.opencontainers.image.description="GraphQL gateway for BotPenguin partner agencies" \
      org.opencontainers.image.version="${VERSION}"
# The upstream is reached over HTTPS.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY gateway /gateway
# A numeric user, so that Kubernetes' runAsNonRoot can check it without an
# /etc/passwd.
USER 65532:65532
# ADDR's default; METRICS_ADDR, when set, is another port.
EXPOSE 8080
# Kept by Docker (and podman build --format docker); Kubernetes uses the
# Deployment's probes instead.
HEALTHCHECK --interval=10s --timeout=6s --start-period=5s CMD ["/gateway", "-healthcheck"]
ENTRYPOINT ["/gateway"]
