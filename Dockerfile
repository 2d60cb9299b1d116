# Switchboard broker image (see deploy/README.md):
#   docker build -t switchboard .
#   docker run -d -p 1883:1883 -p 61613:61613 -p 8080:8080 \
#     -v "$PWD/switchboard.yaml:/etc/switchboard/switchboard.yaml:ro" -v switchboard-data:/var/lib/switchboard switchboard
#
# CI has no Docker engine: deploy/check-dockerfile.sh replays this file (COPY, ENV, WORKDIR and
# the build stage's RUN lines) in a clean directory and starts the result. So keep the build
# stage's commands relative to WORKDIR and plain shell; nothing is hidden in a separate script,
# this file is the single source of the build steps.

# The full image: better-sqlite3 compiles from source (python3, make and g++ are in it).
FROM node:20-bookworm AS build
WORKDIR /app
# The lockfile alone first, so the slow native install is cached until the dependencies change;
# .prebuild-installrc makes it compile instead of downloading a prebuilt binary from GitHub.
COPY package.json package-lock.json .prebuild-installrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

# Same Debian and Node major as the build stage: the compiled better-sqlite3 must load here.
FROM node:20-bookworm-slim AS runtime
# The container's contract: every interface (the port mapping decides what is reachable) and
# the data on the volume. Environment beats the configuration file, so a mounted file's
# `listen` and `store.dataDir` are overridden; change listeners with -e SWITCHBOARD_LISTEN=...
ENV SWITCHBOARD_LISTEN=mqtt://0.0.0.0:1883,stomp://0.0.0.0:61613,ws://0.0.0.0:8080/mqtt,ws://0.0.0.0:8080/stomp \
    SWITCHBOARD_STORE_DATA_DIR=/var/lib/switchboard
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/console/dist ./console/dist
# A named volume inherits this ownership on first use; a bind mount must be writable by uid 1000.
RUN mkdir -p /etc/switchboard /var/lib/switchboard && chown node:node /var/lib/switchboard
# The node image's unprivileged user (uid 1000); the ports are all above 1024.
USER node
VOLUME /var/lib/switchboard
EXPOSE 1883 61613 8080
# No curl in the slim image; Node's fetch does. /healthz is served by the ws listener on 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and gets docker stop's SIGTERM (graceful, exit 0) and SIGHUP (reload).
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
# Arguments replace this: `docker run switchboard --allow-anonymous` is development mode, no file.
CMD ["--config", "/etc/switchboard/switchboard.yaml"]
