import type { ApiInfo, FileTarget, SidecarStatus } from '../client/protocol';
import type { ConfigStore } from '../config';
import type { Dashboard } from '../dashboard/dashboard';
import type { Doctor } from '../doctor/doctor';
import type { Engine } from '../docker/engine';
import type { Exec } from '../exec/exec';
import type { Processes } from '../exec/processes';
import type { FileOps } from '../files/workspaceFileSystem';
import type { SessionLogs } from '../exec/sessionLogs';
import type { Lifecycle } from '../lifecycle/lifecycle';
import type { WorkspaceArchives } from '../lifecycle/workspaceArchives';
import type { Pool } from '../pool';
import type { Ports } from '../ports/ports';
import type { DirectPipes } from '../rawChannel/directPipes';
import type { RawChannels } from '../rawChannel/rawChannels';
import type { Sessions } from '../sessions';
import type { JoinedShares } from '../share/joinedShares';
import type { Shares } from '../share/shares';
import type { Terminals } from '../terminals/terminals';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { Workspaces } from '../workspaces';

/** What the request handlers reach: the domain modules and the daemon's own controls. */
export interface Services {
  workspaces: Workspaces;
  sessions: Sessions;
  engine: Engine;
  exec: Exec;
  processes: Processes;
  sessionLogs: SessionLogs;
  terminals: Terminals;
  /** The sessions this sidecar shares with guests. */
  shares: Shares;
  /** The sessions others share with this sidecar. */
  joinedShares: JoinedShares;
  pool: Pool;
  /** Ports listening in sessions, and their forwards to this machine. */
  ports: Ports;
  lifecycle: Lifecycle;
  /** The dashboard's live figures (sampled only while a client subscribes). */
  dashboard: Dashboard;
  archives: WorkspaceArchives;
  config: ConfigStore;
  /** Diagnostics: `sandkasten doctor` and Run Diagnostics. */
  doctor: Doctor;
  rawChannels: RawChannels;
  pipes: DirectPipes;
  clock: Clock;
  log: Logger;
  /** The files of a workspace, or of a session shared with us (see fileProtocol.ts). */
  fileOps(target: FileTarget): FileOps;
  /** The HTTP API's address and token (see ApiServer). */
  api: { info(): Promise<ApiInfo>; rotateToken(): Promise<ApiInfo> };
  status(): Promise<SidecarStatus>;
  shutdown(reason: string): Promise<void>;
  /** Moves the storage directory to the engine answering now (see EngineBinding); the sidecar restarts. */
  switchEngine(engineId: string): Promise<void>;
}
