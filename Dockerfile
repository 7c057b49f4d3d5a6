# mlops: a small multi-stage build. Untested here (no Docker engine runs on
# the build machines). How to use it with docker-compose.yml:
# docs/operations.md (Docker).
#
# Accounts: listening on 0.0.0.0 with no account yet, serve refuses to start
# (MLOPS_AUTH=auto). Give the container its first admin on start with
# MLOPS_BOOTSTRAP_ADMIN and a password file (at least 12 characters) at
# MLOPS_BOOTSTRAP_PASSWORD_FILE; the file must be readable by the image's
# user, uid 65532. Once any account exists, both are ignored.
#   docker run -e MLOPS_BOOTSTRAP_ADMIN=admin \
#     -v "$PWD/secrets/mlops_admin_password:/run/secrets/mlops_admin_password:ro" \
#     -p 8080:8080 IMAGE
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Pure Go (modernc SQLite, pgx): a static binary without cgo.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/mlopsdev/mlops/internal/cli.Version=${VERSION} -X github.com/mlopsdev/mlops/internal/cli.Commit=${COMMIT}" \
      -o /out/mlops ./cmd/mlops \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mlops /usr/local/bin/mlops
# SQLite's home when DATABASE_URL is not set; mount a volume to keep it.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
ENV MLOPS_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:////data/mlops.db \
    MLOPS_BOOTSTRAP_PASSWORD_FILE=/run/secrets/mlops_admin_password
EXPOSE 8080
VOLUME ["/data"]
USER nonroot
ENTRYPOINT ["/usr/local/bin/mlops"]
CMD ["serve"]
