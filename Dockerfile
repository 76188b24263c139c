# codelab-core: one image for the API, the workers and the migrations (the
# command picks the role). TypeScript runs through tsx, as in development.

# The web UI is built with its dev dependencies (vite, preact) in a stage of
# its own; only the static files reach the image.
FROM node:20-slim AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production
# A 64 MB young generation: the API allocates per request and scavenged
# much more often at the default size (POST chat p99 at 200 connections 63-66 ms
# -> 51-53 ms, bench/README.md); it costs up to ~130 MB more RSS per process.
ENV NODE_OPTIONS=--max-semi-space-size=64

# Dependencies first: this layer is rebuilt only when the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .
COPY --from=web /app/web/dist web/dist
USER node

EXPOSE 3000 9464
# node directly (not npm): SIGTERM reaches the process, which drains and exits.
CMD ["node", "--import", "tsx", "bin/start.ts", "--api"]
