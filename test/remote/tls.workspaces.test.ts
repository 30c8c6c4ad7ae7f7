// test/integration/workspaces.test.ts against the second engine over TLS.
import './tls';
import '../integration/workspaces.test';
