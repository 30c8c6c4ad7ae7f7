// test/integration/exec.test.ts against the second engine over ssh.
import './ssh';
import '../integration/exec.test';
