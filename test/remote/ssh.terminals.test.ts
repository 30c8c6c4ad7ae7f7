// test/integration/terminals.test.ts against the second engine over ssh.
import './ssh';
import '../integration/terminals.test';
