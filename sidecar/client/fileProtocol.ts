/**
 * The workspace file system's requests (VS Code's FileSystemProvider, `sandkasten:` URIs):
 * part of the wire protocol, re-exported by protocol.ts.
 */
export {};
