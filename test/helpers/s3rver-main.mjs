// s3rver in its own process, started with --openssl-legacy-provider: s3rver
// encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only
// has in its legacy provider (without it, every truncated listing is a 500).
// Arguments: port, directory, bucket. Prints "ready" once listening.
import { createRequire } from 'node:module';
const S3rver = createRequire(import.meta.url)('s3rver');
const [port, directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: Number(port), directory, silent: true, configureBuckets: [{ name: bucket }] });
await server.run();
process.stdout.write('ready\n');
process.on('SIGTERM', () => { server.close().finally(() => process.exit(0)); });
