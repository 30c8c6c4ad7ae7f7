/**
 * Imported first by the test/remote/tls.*.test.ts files: points this test process at the second
 * engine over TLS before the integration suite it runs is loaded (see test/support/remoteEngine).
 */
import { selectRemoteEngine } from '../support/remoteEngine';

selectRemoteEngine('tls');
