# One image for the API (default), the workers and the sandbox; docker-compose.yml picks the command.
# Node.js 24 LTS, the version CI runs the suite on (.ci/run).
FROM node:24-bookworm-slim

# Pinning the npm that wrote package-lock.json (11.x reads package.json "allowScripts") keeps
# install scripts (esbuild, @swc/core, protobufjs) running as in development.
RUN npm install --global npm@11.19.1 && npm cache clean --force

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

# Manifests alone first, so a source-only change reuses the cached dependency layer.
COPY package.json package-lock.json ./
# The install patches a dependency (scripts/patch-deps.mjs, run as postinstall).
COPY scripts/patch-deps.mjs scripts/
# Dev tools (vitest, eslint, tsc) are not needed at run time: tsx is a runtime dependency.
# npm install, not npm ci: see scripts/ensure-deps.mjs (the lockfile lacks other platforms' optional packages).
RUN npm install --omit=dev && npm cache clean --force

COPY . .

# Code stays root-owned, so the app cannot rewrite itself; only its data dir is writable.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node

EXPOSE 3000
CMD ["npx", "tsx", "api/main.ts"]
