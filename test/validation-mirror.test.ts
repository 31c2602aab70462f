/** Validation that outlives the nodes: the copy in a directory, served by python3's http.server (test/helpers/mirror-drill.ts). */
import { mirrorDrill } from './helpers/mirror-drill.js';

mirrorDrill('directory');
