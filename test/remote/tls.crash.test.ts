// test/integration/crash.test.ts against the second engine over TLS.
import './tls';
import '../integration/crash.test';
