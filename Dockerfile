# wi-admission container image.
# No Docker engine runs in this project's CI, so the image is not built there;
# instead `npm run image:rehearse` (run by .ci/run) performs these same steps:
# build with dev dependencies, install production dependencies only into a
# clean directory, and start the server from it.
# The Node major of the three base images is the one CI tests as the image's
# runtime (scripts/node-runtimes.json, "image"); a test holds them equal, and
# the rehearsal runs on that pinned Node.

# 1. Build: TypeScript → dist/ with the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# 3. Run: distroless Node, non-root (65532), no shell; node is PID 1 and the
#    server its entry point, so SIGTERM reaches the server's drain logic.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 65532:65532
# Node 24 lets V8's young generation grow to 64 MiB per semi-space (Node 22:
# 16 MiB) whatever the memory limit: with 50,000 ServiceAccounts cached that
# took the RSS after load from 229 to 311-315 MiB, past what the chart's
# 384Mi limit leaves room for. 16 MiB keeps Node 22's footprint at no
# measured CPU cost per request (docs/performance.md, "By Node runtime").
# A NODE_OPTIONS set in the pod replaces this value.
ENV NODE_OPTIONS=--max-semi-space-size=16
EXPOSE 9443 9440 8095
CMD ["dist/src/main.js", "serve"]
