# syntax=docker/dockerfile:1
#
# gamenet: one `deno compile` binary on distroless, for one or more platforms:
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/gamenet/gamenet:0.1.0 .
# The build stage runs on the build machine's own platform and cross-compiles
# with `deno compile --target`, so no stage runs under emulation.

ARG DENO_VERSION=2.9.6

FROM --platform=$BUILDPLATFORM denoland/deno:${DENO_VERSION} AS build
ARG TARGETARCH
WORKDIR /src
# The lockfile alone decides the dependencies: this layer is reused until it changes.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
# Permissions and V8 flags are those of deno.json's "compile" task (a test
# keeps the two equal). The V8 flags trade a little CPU for memory: a burst of
# 2,000 Pods peaks at about 100 MiB instead of 200 (bench/RESULTS.md).
RUN case "${TARGETARCH:-amd64}" in \
      amd64) target=x86_64-unknown-linux-gnu ;; \
      arm64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "gamenet: Deno has no runtime for linux/${TARGETARCH}" >&2; exit 1 ;; \
    esac \
 && deno compile --frozen --target "$target" \
      --v8-flags=--optimize-for-size,--max-semi-space-size=2 \
      --allow-net --allow-env --allow-read=/var/run/secrets,/etc/gamenet \
      --output /out/gamenet main.ts

# The compiled binary links glibc, hence cc rather than static; no shell, no
# package manager, and the nonroot user the Deployment's securityContext names.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build --chmod=0555 /out/gamenet /gamenet
USER 65532:65532
EXPOSE 8080 9443
ENTRYPOINT ["/gamenet"]
