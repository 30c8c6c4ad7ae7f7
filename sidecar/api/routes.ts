import type { Route } from './route';
import { EXEC_ROUTES } from './routes/exec';
import { FILE_ROUTES } from './routes/files';
import { PORT_ROUTES } from './routes/ports';
import { PROCESS_ROUTES } from './routes/processes';
import { SESSION_ROUTES } from './routes/sessions';
import { WORKSPACE_ROUTES } from './routes/workspaces';

/** Every route of the HTTP API, Sandkasten v1's and ours (README: "HTTP API"). */
export const ROUTES: Route[] = [...SESSION_ROUTES, ...EXEC_ROUTES, ...WORKSPACE_ROUTES, ...PROCESS_ROUTES, ...FILE_ROUTES, ...PORT_ROUTES];
