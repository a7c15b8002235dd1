// Starts the local AWS emulators on loopback, on free ports, and prints one JSON
// line with their endpoints:
// {"kinesis":["http://127.0.0.1:P1",...],"dynamodb":"http://127.0.0.1:D1","dynamodbs":["http://127.0.0.1:D1",...]}.
// "dynamodb" is the first of "dynamodbs", for callers that want one DynamoDB
// standing for the global tables; pkg/localworld starts one per Region.
// Usage: node scripts/emulators.js [kinesisCount [dynamodbCount]]
// It exits when its standard input closes, so a parent that dies never leaves
// emulators behind.
'use strict';

const kinesalite = require('kinesalite');
const dynalite = require('dynalite');

const kinesisCount = Number(process.argv[2] || 2);
if (!Number.isInteger(kinesisCount) || kinesisCount < 0 || kinesisCount > 8) {
  console.error(`emulators: kinesisCount must be 0..8, got ${process.argv[2]}`);
  process.exit(2);
}
const dynamodbCount = Number(process.argv[3] || 1);
if (!Number.isInteger(dynamodbCount) || dynamodbCount < 1 || dynamodbCount > 8) {
  console.error(`emulators: dynamodbCount must be 1..8, got ${process.argv[3]}`);
  process.exit(2);
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`));
  });
}

// kinesalite and dynalite rethrow a request's 'error' event. A client that
// cancels a call mid-request (a test or the demo stopping its pollers) raises
// ECONNRESET "aborted" there, which would otherwise kill every emulator in
// this process.
process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) return;
  console.error(`emulators: ${err.stack || err}`);
  process.exit(1);
});

async function main() {
  // Zero delays: tests create and delete many streams and tables, and the
  // emulators' default 500 ms CREATING state only slows them down.
  const servers = [];
  const kinesis = [];
  for (let i = 0; i < kinesisCount; i++) {
    const s = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
    servers.push(s);
    kinesis.push(await listen(s));
  }
  const dynamodbs = [];
  for (let i = 0; i < dynamodbCount; i++) {
    const d = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    servers.push(d);
    dynamodbs.push(await listen(d));
  }
  process.stdout.write(JSON.stringify({ kinesis, dynamodb: dynamodbs[0], dynamodbs }) + '\n');

  const stop = () => {
    for (const s of servers) s.close();
    process.exit(0);
  };
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(`emulators: ${err.stack || err}`);
  process.exit(1);
});
