# codelab-core: one image for the API, the workers and the migrations (the
# command picks the role). TypeScript runs through tsx, as in development.
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first: this layer is rebuilt only when the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .
USER node

EXPOSE 3000 9464
# node directly (not npm): SIGTERM reaches the process, which drains and exits.
CMD ["node", "--import", "tsx", "bin/start.ts", "--api"]
