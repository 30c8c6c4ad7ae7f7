// test/integration/pool.test.ts against the second engine over TLS.
import './tls';
import '../integration/pool.test';
