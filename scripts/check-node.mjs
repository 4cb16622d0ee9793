// Every npm script must run on the Node.js pinned at the root (the `node` devDependency).
const major = Number(process.versions.node.split(".")[0]);
if (major !== 24) {
  console.error(
    `flotilla: this script runs on Node.js ${process.versions.node}, but the repository pins Node.js 24.\n` +
      "Run it through npm (npm test, npm run bench) after `npm ci`, which puts the pinned node first on PATH.",
  );
  process.exit(1);
}
