import { ApiError, badRequest } from '../apiError';
import { Fields, readJsonObject } from '../requestBody';
import type { Route, RouteContext } from '../route';
import { v1Process } from '../shapes';
import { cancellationOf, pathId, sessionOf, touch } from './common';

/** Ours, beyond v1: background processes, whose output is kept and read by offset (see README). */
const SIGNALS = ['INT', 'TERM', 'KILL'] as const;
const MAX_WAIT_MS = 60_000;

function processOf(context: RouteContext) {
  const id = pathId(context);
  const process = context.services.processes.list().find((candidate) => candidate.id === id);
  if (!process) throw new ApiError(404, 'PROCESS_NOT_FOUND', `process not found: ${id}`);
  return process;
}

export const PROCESS_ROUTES: Route[] = [
  {
    method: 'POST',
    path: '/v1/sessions/:id/processes',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const fields = new Fields(await readJsonObject(context.req));
      const session = sessionOf(context);
      const line = fields.requiredString('cmd', 'cmd is required');
      const process = await context.services.processes.start({ sessionId: session.id, line });
      await touch(context, session);
      return { status: 201, body: v1Process(process) };
    },
  },
  {
    method: 'GET',
    path: '/v1/sessions/:id/processes',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      return { body: { processes: context.services.processes.list(sessionOf(context).id).map(v1Process) } };
    },
  },
  {
    method: 'GET',
    path: '/v1/processes/:id',
    notFound: 'PROCESS_NOT_FOUND',
    async handle(context) {
      return { body: v1Process(processOf(context)) };
    },
  },
  {
    // Output from `offset` (the last answer's next_offset), waiting up to wait_ms for some.
    method: 'GET',
    path: '/v1/processes/:id/output',
    notFound: 'PROCESS_NOT_FOUND',
    async handle(context) {
      const { query } = context;
      const offset = wholeNumberQuery(query.get('offset'), 'offset', Number.MAX_SAFE_INTEGER);
      const waitMs = wholeNumberQuery(query.get('wait_ms'), 'wait_ms', MAX_WAIT_MS);
      const page = await context.services.processes.output(processOf(context).id, { offset, waitMs: waitMs || undefined }, cancellationOf(context.signal));
      return { body: { chunks: page.chunks, next_offset: page.nextOffset, dropped_bytes: page.droppedBytes, process: v1Process(page.process) } };
    },
  },
  {
    method: 'POST',
    path: '/v1/processes/:id/signal',
    notFound: 'PROCESS_NOT_FOUND',
    async handle(context) {
      const fields = new Fields(await readJsonObject(context.req));
      const signal = fields.string('signal') ?? 'INT';
      if (!(SIGNALS as readonly string[]).includes(signal)) throw badRequest(`signal must be one of ${SIGNALS.join(', ')}`);
      return { body: v1Process(await context.services.processes.signal(processOf(context).id, signal as (typeof SIGNALS)[number])) };
    },
  },
  {
    // Until it exits or timeout_ms passes (then it is still running).
    method: 'POST',
    path: '/v1/processes/:id/wait',
    notFound: 'PROCESS_NOT_FOUND',
    async handle(context) {
      const fields = new Fields(await readJsonObject(context.req));
      const timeoutMs = fields.integer('timeout_ms', 0, MAX_WAIT_MS * 10);
      return { body: v1Process(await context.services.processes.wait(processOf(context).id, timeoutMs || undefined, cancellationOf(context.signal))) };
    },
  },
];

function wholeNumberQuery(value: string | null, name: string, max: number): number | undefined {
  if (value === null || value === '') return undefined;
  if (!/^\d{1,16}$/.test(value) || Number(value) > max) throw badRequest(`${name} must be a whole number from 0 to ${max}`);
  return Number(value);
}
