// test/integration/persistentShell.test.ts against the second engine over ssh.
import './ssh';
import '../integration/persistentShell.test';
