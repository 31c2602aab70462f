/**
 * Validation that outlives the nodes: the copy in S3-compatible storage
 * (`mirror.s3`, s3rver), served through HAProxy from path-style GETs under
 * `--validation-mirror-path /<bucket>/<prefix>` (test/helpers/mirror-drill.ts).
 */
import { mirrorDrill } from './helpers/mirror-drill.js';

mirrorDrill('s3');
