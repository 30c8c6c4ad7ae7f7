// test/integration/crash.test.ts against the second engine over ssh.
import './ssh';
import '../integration/crash.test';
