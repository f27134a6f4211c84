# syntax=docker/dockerfile:1

# Poort container image.
#   docker build -t poort --build-arg SOURCE_URL=https://example.org/your/poort.git .
#   docker run --init -p 9000:9000 -v poort-data:/var/lib/poort/data -v poort-keys:/var/lib/poort/keys poort

ARG NODE_IMAGE=node:24-slim

# ---------------------------------------------------------------------------
# Build stage: compile native modules (argon2, better-sqlite3) and the TypeScript sources,
# then drop the dev dependencies so node_modules can be copied as-is into the runtime image.
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, for layer caching. --ignore-scripts also keeps the root "prepare" script
# (the TypeScript build) from running before the sources are here; the two native modules are then
# built explicitly (npm's install-script policy approves them in package.json "allowScripts").
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild argon2 better-sqlite3

COPY . .
# Runtime asset folders may be empty (and so absent from a git checkout); make sure they exist for
# the COPY steps below.
RUN mkdir -p views locales public config \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG VERSION=0.1.0
# The repository URL, given at build time.
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="Poort" \
      org.opencontainers.image.description="Open-source identity provider: OpenID Connect and SAML single sign-on with contextual MFA and a tamper-evident audit trail" \
      org.opencontainers.image.licenses="EUPL-1.2" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}"

ENV NODE_ENV=production \
    POORT_HOST=0.0.0.0 \
    POORT_PORT=9000 \
    POORT_DATA_DIR=/var/lib/poort/data \
    POORT_KEYS_DIR=/var/lib/poort/keys
# Password checks use one thread of Node's pool per core and leave one for the rest (README, security notes).
ENV UV_THREADPOOL_SIZE=16

WORKDIR /app

# Application files stay owned by root (read-only for the service user); only the state
# directories are writable by it.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/views ./views
COPY --from=build /app/locales ./locales
COPY --from=build /app/public ./public
COPY --from=build /app/config ./config

RUN mkdir -p /var/lib/poort/data /var/lib/poort/keys \
 && chown -R node:node /var/lib/poort \
 && chmod 0700 /var/lib/poort/keys

# The "node" user (uid/gid 1000) ships with the official Node.js images.
USER node

VOLUME ["/var/lib/poort/data", "/var/lib/poort/keys"]
EXPOSE 9000

# The slim image has no curl or wget: probe with Node's built-in fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.POORT_PORT||9000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

ENTRYPOINT ["node", "dist/src/server/main.js"]
