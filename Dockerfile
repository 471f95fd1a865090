# Three stages, Node.js 24 LTS (the version CI runs the suite on, .ci/run):
#   build    every dependency, then `npm run build`: dist/api.js, dist/worker.js, the prebuilt
#            workflow bundle and the migrations (scripts/build.ts)
#   sandbox  the development stand-in for the outside systems, run from source (docker-compose.yml
#            builds it with `target: sandbox`); never part of a production deployment
#   runtime  the default target: the compiled bundle on production dependencies only (no tsx,
#            TypeScript, test tooling or embedded PostgreSQL); `node dist/api.js` or
#            `node dist/worker.js`
# test/e2e/production-mode.test.ts runs the same two steps (build, `npm ci --omit=dev`) and takes
# an order to the end on the result; test/unit/dockerfile.test.ts checks these stages.

FROM node:24-bookworm-slim AS build
# The npm that wrote package-lock.json (11.x reads package.json "allowScripts"), so install
# scripts (esbuild, @swc/core, protobufjs) run as in development.
RUN npm install --global npm@11.19.1 && npm cache clean --force
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
# Manifests alone first, so a source-only change reuses the cached dependency layer. The install
# patches a dependency (scripts/patch-deps.mjs, run as postinstall).
COPY package.json package-lock.json ./
COPY scripts/patch-deps.mjs scripts/
RUN npm ci
COPY . .
RUN npm run build

FROM build AS sandbox
RUN mkdir -p /var/lib/oms-sandbox && chown node:node /var/lib/oms-sandbox
USER node
EXPOSE 4000
CMD ["node", "--import", "tsx", "sandbox/main.ts"]

FROM node:24-bookworm-slim AS runtime
RUN npm install --global npm@11.19.1 && npm cache clean --force
ENV NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/patch-deps.mjs scripts/
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# Code stays root-owned, so the app cannot rewrite itself; only its data dir is writable.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
CMD ["node", "dist/api.js"]
