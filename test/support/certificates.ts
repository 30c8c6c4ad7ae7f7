import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

/** A self-signed certificate for `name` (one day, openssl), as `<name>.pem` and `<name>.key` in `directory`. */
export function selfSignedCertificate(directory: string, name: string): { cert: string; key: string } {
  const cert = path.join(directory, `${name}.pem`);
  const key = path.join(directory, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}
