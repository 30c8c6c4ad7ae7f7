import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Link-local addresses: cloud metadata services (169.254.169.254) live there. */
const LINK_LOCAL = '169.254.0.0/16';

/**
 * Host firewall rules that Docker's bridge options cannot express: a sandbox on the
 * instance's bridge opens no connection to the host itself (its services on the bridge
 * gateway or any other host address) and reaches no link-local address. Replies to
 * connections the host opened still pass. Only possible where the sidecar may change the
 * firewall of the engine's host: the engine is local and the sidecar runs as root with
 * iptables. Elsewhere `status` says the rules are not enforced.
 */
export class HostFirewall {
  constructor(private readonly engineIsLocal: boolean) {}

  /** Why the rules cannot be applied here, or undefined when they can. */
  get unavailableBecause(): string | undefined {
    if (!this.engineIsLocal) return 'the Docker engine is not on this machine';
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'the sidecar does not run as root, so it cannot add firewall rules';
    return undefined;
  }

  private rules(bridge: string): Array<{ chain: string; rule: string[] }> {
    return [
      { chain: 'INPUT', rule: ['-i', bridge, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP', '-m', 'comment', '--comment', 'sandkasten: no connections from sandboxes to the host'] },
      { chain: 'DOCKER-USER', rule: ['-i', bridge, '-d', LINK_LOCAL, '-j', 'DROP', '-m', 'comment', '--comment', 'sandkasten: no link-local addresses from sandboxes'] },
    ];
  }

  /** Adds the rules for `bridge` (each once); true when they are in place. */
  async guard(bridge: string): Promise<boolean> {
    if (this.unavailableBecause) return false;
    try {
      for (const { chain, rule } of this.rules(bridge)) {
        const present = await run('iptables', ['-C', chain, ...rule]).then(() => true, () => false);
        if (!present) await run('iptables', ['-I', chain, '1', ...rule]);
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Removes the rules for `bridge`, if any. */
  async unguard(bridge: string): Promise<void> {
    if (this.unavailableBecause) return;
    for (const { chain, rule } of this.rules(bridge)) {
      // -D removes one copy: repeat while there is one (a crash may have left two).
      for (let i = 0; i < 4; i++) {
        const removed = await run('iptables', ['-D', chain, ...rule]).then(() => true, () => false);
        if (!removed) break;
      }
    }
  }
}
