/** The version of this Rampart build (status, cluster registry, backup manifests). */
export const RAMPART_VERSION = '0.1.0';
