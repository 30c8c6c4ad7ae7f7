import type { SettingsValues } from '../client/configSchema';
import { doctorCheck, doctorReport, type DoctorCheck, type DoctorCheckId, type DoctorReport } from '../client/doctorProtocol';
import type { HomePaths } from '../client/home';
import { storageDirectoryCheck } from '../client/localDiagnosis';
import type { ApiInfo, PoolStatus } from '../client/protocol';
import type { Engine, EngineInfo } from '../docker/engine';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { cgroupsCheck, dockerCheck, runtimeCheck, storageDriverCheck } from './engineChecks';
import { apiCheck, fifoCheck, listenersCheck, makeFifo } from './hostChecks';
import { hardeningCheck, imagesCheck, networkCheck, poolCheck } from './sandboxChecks';

/** How long one check may take before its line says it got no answer (an engine that hangs). */
export const CHECK_DEADLINE_MS = 10_000;

export interface DoctorDependencies {
  engine: Pick<Engine, 'isLocal' | 'status' | 'engineInfo' | 'hasImage' | 'whyNotPullable' | 'listOwnContainers' | 'inspectContainerRaw'>;
  config: { readonly current: Readonly<SettingsValues> };
  pool: { status(): PoolStatus };
  api: { info(): Promise<ApiInfo> };
  /** Whether host firewall rules keep bridged sandboxes from the host (Containers.hostIsolation). */
  hostIsolation(): { enforced: boolean; reason?: string };
  /** The sidecar's own facts, for the first line. */
  sidecar(): { version: string; pid: number; instanceId: string; clients: number; startedAt: string };
  paths: Pick<HomePaths, 'home' | 'socketDirectory' | 'pipes'>;
  clock: Clock;
  log: Logger;
  /** The sidecar's environment (SANDKASTEN_DIRECT_PIPES); process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** mkfifo; the real one by default. */
  makeFifo?: (file: string) => Promise<void>;
  /** This user's id, which must own the storage directory; process.getuid() by default. */
  uid?: number;
}

/**
 * `sandkasten doctor`: one pass/warn/fail line per check, each with what to do about it. Runs
 * without Docker too: the Docker line fails with the fix, and the checks that need the
 * engine say they were skipped. Changes nothing; every check has a deadline and runs beside
 * the others, and a check that throws becomes a line saying so rather than a failed request.
 */
export class Doctor {
  constructor(private readonly deps: DoctorDependencies) {}

  async run(): Promise<DoctorReport> {
    const { engine, config, pool, api, paths } = this.deps;
    const settings = config.current;
    // status() has its own short deadline (a ping); it never throws.
    const docker = await engine.status();
    let info: EngineInfo | undefined;
    let infoError: string | undefined;
    if (docker.available) {
      try {
        info = await this.bounded(engine.engineInfo());
      } catch (error) {
        infoError = firstLine(error);
      }
    }
    const skipped = (id: DoctorCheckId) =>
      doctorCheck(id, 'skip', docker.available ? 'Skipped: `docker info` failed (see the Docker engine line).' : 'Skipped: Docker is not reachable (see the Docker engine line).');
    const withDocker = (id: DoctorCheckId, check: () => DoctorCheck | Promise<DoctorCheck>) => (docker.available ? this.guarded(id, check) : skipped(id));
    const withEngineInfo = (id: DoctorCheckId, check: (info: EngineInfo) => DoctorCheck | Promise<DoctorCheck>) => (info ? this.guarded(id, () => check(info)) : skipped(id));
    const checks = await Promise.all([
      this.guarded('sidecar', () => this.sidecarCheck()),
      dockerCheck(docker, info, infoError),
      withEngineInfo('storage-driver', (facts) => storageDriverCheck(facts, settings)),
      withEngineInfo('cgroups', cgroupsCheck),
      this.guarded('fifo', () =>
        fifoCheck({
          engineIsLocal: engine.isLocal,
          endpoint: docker.endpoint,
          operatingSystem: info?.operatingSystem,
          directPipesSetting: (this.deps.env ?? process.env).SANDKASTEN_DIRECT_PIPES,
          home: paths.home,
          pipes: paths.pipes,
          makeFifo: this.deps.makeFifo ?? makeFifo,
        }),
      ),
      withDocker('images', () => imagesCheck(engine, settings)),
      withDocker('pool', () => poolCheck(pool.status())),
      withEngineInfo('hardening', (facts) => hardeningCheck(engine, facts)),
      withDocker('network', () => networkCheck(settings, this.deps.hostIsolation())),
      withEngineInfo('runtime', (facts) => runtimeCheck(facts, settings['sandbox.runtime'])),
      this.guarded('storage-directory', () => storageDirectoryCheck(paths, this.deps.uid)),
      this.guarded('api', async () => apiCheck(await api.info())),
      this.guarded('listeners', () => listenersCheck(settings)),
    ]);
    return doctorReport(checks);
  }

  private sidecarCheck(): DoctorCheck {
    const { version, pid, instanceId, clients, startedAt } = this.deps.sidecar();
    return doctorCheck('sidecar', 'pass', `Sandkasten ${version}, pid ${pid}, ${clients} client(s), up since ${startedAt}; storage directory ${this.deps.paths.home} (instance ${instanceId}).`);
  }

  /** One check under the deadline; one that throws or overruns is a warn line that says so. */
  private async guarded(id: DoctorCheckId, check: () => DoctorCheck | Promise<DoctorCheck>): Promise<DoctorCheck> {
    try {
      return await this.bounded(Promise.resolve().then(check));
    } catch (error) {
      this.deps.log.error(`diagnostics: the ${id} check failed`, error);
      return doctorCheck(id, 'warn', `Could not be checked: ${firstLine(error)}`, 'Run `sandkasten doctor` again; sidecar.log in the storage directory has the details.');
    }
  }

  private bounded<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.deps.clock.setTimeout(() => reject(new Error(`no answer within ${CHECK_DEADLINE_MS / 1000} s`)), CHECK_DEADLINE_MS);
      work.then(
        (value) => (timer.cancel(), resolve(value)),
        (error: unknown) => (timer.cancel(), reject(error)),
      );
    });
  }
}

/** An error's message as one line of a report (no stack, no engine multi-line dumps). */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].trim().slice(0, 500);
}
