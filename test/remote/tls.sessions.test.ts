// test/integration/sessions.test.ts against the second engine over TLS.
import './tls';
import '../integration/sessions.test';
