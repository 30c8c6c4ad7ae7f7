import { hasCode } from '../../errors';
import { ApiError, badRequest } from '../apiError';
import { Fields, readJsonObject } from '../requestBody';
import type { Route, RouteContext } from '../route';
import { v1Port } from '../shapes';
import { sessionOf, touch } from './common';

/**
 * Ours, beyond v1: what listens in a session and forwards to this machine. An agent starts a
 * server, forwards its port and calls the `url` it gets back (see README: "Ports").
 */
function portOf(context: RouteContext): number {
  const raw = context.params.port ?? '';
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535)) throw badRequest('port must be a number from 1 to 65535');
  return port;
}

export const PORT_ROUTES: Route[] = [
  {
    // ?scan=false answers from the last look instead of looking at the container's sockets now.
    method: 'GET',
    path: '/v1/sessions/:id/ports',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const session = sessionOf(context);
      const scan = context.query.get('scan') !== 'false' && session.state === 'running';
      const ports = await context.services.ports.list(session.id, scan);
      return { body: { ports: ports.map(v1Port) } };
    },
  },
  {
    method: 'POST',
    path: '/v1/sessions/:id/ports',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const fields = new Fields(await readJsonObject(context.req));
      const session = sessionOf(context);
      const port = fields.integer('port', 1, 65535, 'port must be at most 65535');
      if (port === undefined) throw badRequest('port is required');
      const localPort = fields.integer('local_port', 0, 65535, 'local_port must be at most 65535');
      const label = fields.string('label');
      try {
        const forwarded = await context.services.ports.forward({ sessionId: session.id, port, localPort, label });
        await touch(context, session);
        return { status: 201, body: v1Port(forwarded) };
      } catch (error) {
        if (hasCode(error, 'Exists')) throw new ApiError(409, 'PORT_IN_USE', (error as Error).message);
        throw error;
      }
    },
  },
  {
    method: 'DELETE',
    path: '/v1/sessions/:id/ports/:port',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const session = sessionOf(context);
      const port = portOf(context);
      try {
        return { body: v1Port(await context.services.ports.stopForwarding(session.id, port)) };
      } catch (error) {
        if (hasCode(error, 'NotFound')) throw new ApiError(404, 'PORT_NOT_FOUND', (error as Error).message);
        throw error;
      }
    },
  },
];
