import type { SettingsValues } from '../client/configSchema';
import { doctorCheck, type DoctorCheck } from '../client/doctorProtocol';
import { shellQuote } from '../client/localDiagnosis';
import { WORKSPACE_KINDS, type PoolStatus } from '../client/protocol';
import { LABEL, SANDBOX_CAPABILITIES, type Engine, type EngineInfo } from '../docker/engine';

/** The checks of what sandboxes are made of and with: images, the pool, hardening, network. */

/**
 * The default image and the archive helper's image are on the engine, or at least pullable
 * (the registry has them: asked through the engine, nothing is pulled). Neither is a failure:
 * the first session, or the first archive, would fail.
 */
export async function imagesCheck(engine: Pick<Engine, 'hasImage' | 'whyNotPullable'>, settings: Pick<SettingsValues, 'defaultImage' | 'lifecycle.archiveImage'>): Promise<DoctorCheck> {
  // One image may serve both (it does by default): each is looked up and named once.
  const usesByImage = new Map<string, Array<{ use: string; setting: string }>>();
  for (const [setting, use] of [
    ['defaultImage', 'new workspaces'],
    ['lifecycle.archiveImage', 'archives and snapshots'],
  ] as const) {
    usesByImage.set(settings[setting], [...(usesByImage.get(settings[setting]) ?? []), { use: `${use} (${setting})`, setting }]);
  }
  const missing: Array<[string, Array<{ use: string; setting: string }>]> = [];
  for (const [image, uses] of usesByImage) if (!(await engine.hasImage(image))) missing.push([image, uses]);
  if (missing.length === 0) return doctorCheck('images', 'pass', `${[...usesByImage.keys()].join(' and ')} on the engine.`);
  const unpullable: Array<[string, Array<{ use: string; setting: string }>, string]> = [];
  for (const [image, uses] of missing) {
    const why = await engine.whyNotPullable(image);
    if (why) unpullable.push([image, uses, why]);
  }
  if (unpullable.length > 0) {
    return doctorCheck(
      'images',
      'fail',
      `Neither on the engine nor pullable: ${unpullable.map(([image, uses, why]) => `${image}, for ${uses.map((entry) => entry.use).join(' and ')} (the registry: ${why})`).join('; ')}.`,
      `Load or build ${unpullable.length === 1 ? 'it' : 'them'} here (\`docker load -i FILE\`, \`docker build\`), make the registry reachable (a proxy, \`docker login\`), or name an image the engine has (\`sandkasten image list\`): ` +
        `${unpullable.flatMap(([, uses]) => uses.map((entry) => `\`sandkasten config set ${entry.setting} IMAGE\``)).join(', ')}.`,
    );
  }
  return doctorCheck(
    'images',
    'warn',
    `Not on the engine: ${missing.map(([image, uses]) => `${image}, for ${uses.map((entry) => entry.use).join(' and ')}`).join('; ')}. ` +
      `Sandkasten pulls ${missing.length === 1 ? 'it' : 'them'} at first use, which fails without access to the registry.`,
    `Pull now: ${missing.map(([image]) => `\`docker pull ${shellQuote(image)}\``).join(', ')}; or name an image the engine has (\`sandkasten image list\`): ` +
      `${missing.flatMap(([, uses]) => uses.map((entry) => `\`sandkasten config set ${entry.setting} IMAGE\``)).join(', ')}.`,
  );
}

export function poolCheck(pool: PoolStatus): DoctorCheck {
  if (!pool.enabled) return doctorCheck('pool', 'pass', 'Turned off (pool.enabled): new sessions start cold.');
  if (pool.images.length === 0) {
    return doctorCheck('pool', 'pass', `No images to keep warm (pool.images): new sessions start cold. To keep two ready: \`sandkasten config set pool.images '{"IMAGE": 2}'\`.`);
  }
  const levels = pool.images.map((image) => `${image.image} ${image.ready}/${image.target} ready${image.refilling > 0 ? ` (${image.refilling} being made)` : ''}`).join('; ');
  const failing = pool.images.filter((image) => image.error);
  if (failing.length > 0) {
    return doctorCheck(
      'pool',
      'warn',
      `${levels}. It cannot fill: ${failing.map((image) => `${image.image}: ${image.error}`).join('; ')}`,
      'Check the image names in pool.images (`docker pull IMAGE` shows whether one can be had), or remove the image: `sandkasten config set pool.images \'{}\'`. The pool retries by itself.',
    );
  }
  return doctorCheck('pool', 'pass', `${levels}.`);
}

/** What a sandbox container was actually created with, from Docker's inspect JSON. */
interface HostConfigSecurity {
  Privileged?: boolean;
  CapDrop?: string[] | null;
  CapAdd?: string[] | null;
  SecurityOpt?: string[] | null;
}

/** How the container breaks the hardening every sandbox is made with, if it does. */
export function hardeningGaps(hostConfig: HostConfigSecurity | undefined): string[] {
  if (!hostConfig) return ['no host configuration'];
  const gaps: string[] = [];
  const bare = (capability: string) => capability.toUpperCase().replace(/^CAP_/, '');
  if (hostConfig.Privileged === true) gaps.push('it is privileged');
  if (!(hostConfig.CapDrop ?? []).map(bare).includes('ALL')) gaps.push('not every capability is dropped');
  const extra = (hostConfig.CapAdd ?? []).map(bare).filter((capability) => !(SANDBOX_CAPABILITIES as readonly string[]).includes(capability));
  if (extra.length > 0) gaps.push(`it keeps ${extra.join(', ')}`);
  if (!(hostConfig.SecurityOpt ?? []).some((option) => /^no-new-privileges(?:[:=]true)?$/.test(option))) gaps.push('no-new-privileges is off');
  return gaps;
}

/**
 * The hardening every sandbox is created with (see DockerEngine.createContainer), what the
 * engine adds or lacks (seccomp, rootless, user namespaces), and, when a sandbox runs, that
 * its container really has it.
 */
export async function hardeningCheck(engine: Pick<Engine, 'listOwnContainers' | 'inspectContainerRaw'>, info: EngineInfo): Promise<DoctorCheck> {
  const made = `Sandboxes drop every capability but ${SANDBOX_CAPABILITIES.join(', ')}; run with no-new-privileges, an init process, and memory, CPU and process limits.`;
  const option = (name: string) => info.securityOptions.find((entry) => entry === `name=${name}` || entry.startsWith(`name=${name},`));
  const seccomp = option('seccomp');
  const engineSide = [
    seccomp ? `seccomp (profile ${/profile=([^,]+)/.exec(seccomp)?.[1] ?? 'default'})` : undefined,
    option('apparmor') ? 'AppArmor' : undefined,
    option('selinux') ? 'SELinux' : undefined,
    option('rootless') ? 'a rootless engine (root in a sandbox is not root on this machine)' : undefined,
    option('userns') ? 'user namespaces (root in a sandbox is remapped)' : undefined,
  ].filter(Boolean);
  const engineText = engineSide.length > 0 ? ` The engine adds ${engineSide.join(', ')}.` : '';

  const running = [...(await engine.listOwnContainers('session')), ...(await engine.listOwnContainers('pool'))].find((container) => container.running);
  let verified = '';
  if (running) {
    const inspected = (await engine.inspectContainerRaw(running.id)) as { HostConfig?: HostConfigSecurity } | undefined;
    // Gone between the listing and the inspection: nothing to verify on.
    if (inspected) {
      const gaps = hardeningGaps(inspected.HostConfig);
      const sessionId = running.labels[LABEL.session];
      if (gaps.length > 0) {
        return doctorCheck(
          'hardening',
          'fail',
          `${made} But container ${running.name} runs without it: ${gaps.join('; ')}.`,
          sessionId
            ? `It was made by an older Sandkasten or changed outside it: \`sandkasten session stop ${sessionId}\`, then start the session again (its container is made anew).`
            : 'It was made by an older Sandkasten or changed outside it: `sandkasten daemon stop` drains the pool; the next start makes new containers.',
        );
      }
      verified = ` Verified on the running container ${running.name}.`;
    }
  }
  if (!seccomp || /profile=unconfined/.test(seccomp)) {
    return doctorCheck(
      'hardening',
      'warn',
      `${made}${engineText} But the engine applies no seccomp profile, so every system call reaches the kernel.${verified}`,
      `Use a Docker engine built with seccomp, and remove \`"seccomp-profile": "unconfined"\` from /etc/docker/daemon.json if it is there; then restart Docker.`,
    );
  }
  return doctorCheck('hardening', 'pass', `${made}${engineText}${verified}`);
}

/**
 * Which network each kind gets (ephemeral: none; others as `network` / `sandbox.network` say),
 * and whether the host firewall rules keep bridged sandboxes from this machine's services.
 */
export function networkCheck(settings: Pick<SettingsValues, 'network' | 'sandbox.network'>, hostIsolation: { enforced: boolean; reason?: string }): DoctorCheck {
  const bridged = WORKSPACE_KINDS.filter((kind) => kind !== 'ephemeral' && ((settings['sandbox.network'][kind] || settings.network) !== 'none'));
  const isolated = WORKSPACE_KINDS.filter((kind) => !bridged.includes(kind));
  const layout = [
    `${isolated.join(', ')}: no network`,
    ...(bridged.length > 0 ? [`${bridged.join(', ')}: Sandkasten's own bridge, on which sandboxes cannot reach one another`] : []),
  ].join('; ');
  if (bridged.length === 0) return doctorCheck('network', 'pass', `${layout}.`);
  if (hostIsolation.enforced) {
    return doctorCheck('network', 'pass', `${layout}. Host firewall rules keep them from this machine's own services and from link-local addresses (cloud metadata).`);
  }
  return doctorCheck(
    'network',
    'warn',
    `${layout}. Sandboxes on the bridge can reach this machine's own services (on the bridge's gateway) and link-local addresses such as cloud metadata (169.254.169.254): ${hostIsolation.reason ?? 'the host firewall rules are not in place'}.`,
    `Run the sidecar as root on the engine's host so it can add the firewall rules, or give kinds that need no network none: \`sandkasten config set sandbox.network '{"${bridged[0]}": "none"}'\`.`,
  );
}
