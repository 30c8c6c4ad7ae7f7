// test/integration/sessions.test.ts against the second engine over ssh.
import './ssh';
import '../integration/sessions.test';
