// test/integration/pool.test.ts against the second engine over ssh.
import './ssh';
import '../integration/pool.test';
