/**
 * Free loopback ports for test servers: the same allocator the DR drills use
 * (below the kernel's ephemeral range, each port handed out once per process).
 */
export { freeLoopbackPort as freePort } from '../../src/core/free-port.js';
