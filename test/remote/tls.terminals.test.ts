// test/integration/terminals.test.ts against the second engine over TLS.
import './tls';
import '../integration/terminals.test';
