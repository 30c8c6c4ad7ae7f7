// test/integration/exec.test.ts against the second engine over TLS.
import './tls';
import '../integration/exec.test';
