// test/integration/persistentShell.test.ts against the second engine over TLS.
import './tls';
import '../integration/persistentShell.test';
