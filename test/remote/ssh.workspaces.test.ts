// test/integration/workspaces.test.ts against the second engine over ssh.
import './ssh';
import '../integration/workspaces.test';
