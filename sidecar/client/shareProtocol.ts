/** Sharing a running session with guests: part of the wire protocol, re-exported by protocol.ts. */
export {};
