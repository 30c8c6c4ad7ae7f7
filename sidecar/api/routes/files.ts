import type { WorkspaceInfo } from '../../client/protocol';
import { FileError, Files, type FilePlace } from '../../files/files';
import { absolutePath, relativePath, sessionDirectoryPath, sessionFilePath, uploadName, workspaceDirectoryPath, workspaceFilePath, WORKSPACE_ROOT } from '../../files/paths';
import { ApiError, badRequest } from '../apiError';
import { MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES, readLimit, sendReadAnswer, uploadedFiles, writeContent } from '../fileRequests';
import { dropRestOfBody, readMultipart, type MultipartForm } from '../multipart';
import { Fields, readJsonObject } from '../requestBody';
import type { ApiServices, Route, RouteContext } from '../route';
import { sessionOf, touch, workspaceIdOf } from './common';
import { namedWorkspace, resolveImage } from './sessions';

/**
 * Files of sessions and workspaces (Sandkasten v1's `fs` routes; README: "HTTP API"). How
 * files are reached — inside a container, never from the host — is Files' business
 * (sidecar/files/files.ts says why); here: v1's requests and answers, and its errors as ours:
 * a path that leads out of /workspace is a 400 however it tries (`..`, an absolute path, a
 * symbolic link the sandbox planted), a missing file a 404 FILE_NOT_FOUND (v1: 500).
 */

/** One Files per sidecar: its warm shells outlive requests. */
const filesByServices = new WeakMap<ApiServices, Files>();

function filesOf(services: ApiServices): Files {
  let files = filesByServices.get(services);
  if (!files) {
    files = new Files({ engine: services.engine, clock: services.clock, config: services.config, sessions: services.sessions, workspaces: services.workspaces, log: services.log });
    filesByServices.set(services, files);
  }
  return files;
}

/** The kind a workspace gets when a file route makes it (v1: writing into a workspace makes it), as session create names one. */
const NAMED_WORKSPACE_KIND = 'persistent';

/** The workspace a write or upload names, made when it does not exist yet (v1's rule), as session create makes one. */
async function workspaceToWrite(context: RouteContext): Promise<WorkspaceInfo> {
  const id = workspaceIdOf(context); // a 400 for an id no workspace can have
  return namedWorkspace(context.services, id, { kind: NAMED_WORKSPACE_KIND, image: await resolveImage(undefined, context.services) });
}

/** A FileError as the answer a caller can act on; `shown` is the path as the caller knows it. */
function answerFor(error: unknown, shown: string): unknown {
  if (!(error instanceof FileError)) return error;
  const details = { reason: error.problem, ...(error.detail ? { detail: error.detail } : {}) };
  switch (error.problem) {
    case 'notFound':
      return new ApiError(404, 'FILE_NOT_FOUND', `no such file or directory: ${shown}`, details);
    case 'notADirectory':
      return badRequest(`not a directory: a component of ${shown} is a file`, details);
    case 'isADirectory':
      return badRequest(`${shown} is a directory`, details);
    case 'notARegularFile':
      return badRequest(`${shown} is not a regular file (a FIFO, socket or device): refused`, details);
    case 'outsideWorkspace':
      return badRequest(`${shown} leads out of ${WORKSPACE_ROOT} through a symbolic link: refused`, details);
    case 'symbolicLink':
      return badRequest(`${shown} is a symbolic link: refused (a write never goes through a link; write to the file it points to)`, details);
    case 'timeout':
      return new ApiError(504, 'FILE_TIMEOUT', `${shown}: ${error.message}`, details);
    case 'noWorkspace':
      return new ApiError(500, 'INTERNAL_ERROR', `the container has no ${WORKSPACE_ROOT}`, details);
    default:
      return new ApiError(500, 'INTERNAL_ERROR', `${shown}: ${error.message}`, details);
  }
}

/** Runs one file operation; a FileError becomes its answer, naming `shown()` (the path at fault). */
async function answering<T>(shown: () => string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw answerFor(error, shown());
  }
}

/** A write's JSON body: the path (as given) and the bytes. */
async function writeRequest(context: RouteContext): Promise<{ path: string | undefined; content: Buffer }> {
  const fields = new Fields(await readJsonObject(context.req));
  const path = fields.string('path');
  return { path, content: writeContent(fields.string('text'), fields.string('content_base64')) };
}

/** An upload's form, read whole within v1's limits. */
function uploadForm(context: RouteContext): Promise<MultipartForm> {
  return readMultipart(context.req, { maxBytes: MAX_UPLOAD_BYTES, maxFiles: MAX_UPLOAD_FILES });
}

/** What an upload writes: its files and where each goes, all checked before anything is made or written. */
function planUpload(form: MultipartForm, directory: string[]): Array<{ target: string[]; content: Buffer }> {
  return uploadedFiles(form).map((file) => ({ target: [...directory, uploadName(file.filename)], content: file.content }));
}

/** Writes an upload's files in order; answers their paths as `show` names them. */
async function writeUpload(place: FilePlace, plan: Array<{ target: string[]; content: Buffer }>, show: (components: string[]) => string): Promise<string[]> {
  for (const { target, content } of plan) {
    await answering(() => show(target), () => place.write(target, content));
  }
  return plan.map(({ target }) => show(target));
}

/**
 * How long, and how much more, a body is read and dropped after an early answer (see
 * dropRestOfBody): long enough for a client on a loaded machine to read its answer before the
 * connection is cut (at 10 MiB and 2 s, one lost it to the reset in CI).
 */
const LINGER = { maxBytes: 4 * MAX_UPLOAD_BYTES, maxMs: 5000 };

/** What is left of an upload's body when the route answers early (an error) is dropped, within bounds. */
function lingering(context: RouteContext): void {
  dropRestOfBody(context.req, context.services.clock, LINGER);
}

export const FILE_ROUTES: Route[] = [
  {
    method: 'POST',
    path: '/v1/sessions/:id/fs/write',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const { path, content } = await writeRequest(context);
      const session = sessionOf(context);
      const target = sessionFilePath(path);
      await answering(() => absolutePath(target), () => filesOf(context.services).inSession(session.id, (place) => place.write(target, content)));
      await touch(context, session);
      return { body: { ok: true } };
    },
  },
  {
    method: 'GET',
    path: '/v1/sessions/:id/fs/read',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const session = sessionOf(context);
      const path = context.query.get('path') ?? undefined;
      const target = sessionFilePath(path, 'path query parameter is required');
      const limit = readLimit(context.query.get('max_bytes'));
      const read = await answering(() => absolutePath(target), () => filesOf(context.services).inSession(session.id, (place) => place.read(target, limit)));
      await touch(context, session);
      await sendReadAnswer(context.res, { path: path!, truncated: read.truncated }, read.chunks, read.bytes);
    },
  },
  {
    method: 'POST',
    path: '/v1/sessions/:id/fs/upload',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      try {
        const session = sessionOf(context);
        const form = await uploadForm(context);
        const plan = planUpload(form, sessionDirectoryPath(form.fields.get('path')));
        const paths = await filesOf(context.services).inSession(session.id, (place) => writeUpload(place, plan, absolutePath));
        await touch(context, session);
        return { body: { ok: true, paths } };
      } finally {
        lingering(context);
      }
    },
  },
  {
    // No session needed: the workspace is made when it does not exist (v1).
    method: 'POST',
    path: '/v1/workspaces/:id/fs/write',
    notFound: 'WORKSPACE_NOT_FOUND',
    async handle(context) {
      const { path, content } = await writeRequest(context);
      const target = workspaceFilePath(path);
      const workspace = await workspaceToWrite(context);
      await answering(() => relativePath(target), () => filesOf(context.services).inWorkspace(workspace.id, (place) => place.write(target, content)));
      return { body: { ok: true } };
    },
  },
  {
    method: 'POST',
    path: '/v1/workspaces/:id/fs/upload',
    notFound: 'WORKSPACE_NOT_FOUND',
    async handle(context) {
      try {
        const form = await uploadForm(context);
        // Everything is checked before the workspace is made: a refused upload makes nothing.
        const plan = planUpload(form, workspaceDirectoryPath(form.fields.get('path')));
        const workspace = await workspaceToWrite(context);
        const paths = await filesOf(context.services).inWorkspace(workspace.id, (place) => writeUpload(place, plan, relativePath));
        return { body: { ok: true, paths } };
      } finally {
        lingering(context);
      }
    },
  },
  {
    method: 'GET',
    path: '/v1/workspaces/:id/fs',
    notFound: 'WORKSPACE_NOT_FOUND',
    async handle(context) {
      const target = workspaceDirectoryPath(context.query.get('path') ?? undefined);
      const listed = await answering(
        () => relativePath(target) || '.',
        () => filesOf(context.services).inWorkspace(workspaceIdOf(context), (place) => place.list(target)),
      );
      // v1 answers `null` for an empty directory; an empty list is what clients iterate.
      return { body: { entries: listed.entries.map((entry) => ({ name: entry.name, is_dir: entry.isDirectory })), truncated: listed.truncated } };
    },
  },
  {
    method: 'GET',
    path: '/v1/workspaces/:id/fs/read',
    notFound: 'WORKSPACE_NOT_FOUND',
    async handle(context) {
      const path = context.query.get('path') ?? undefined;
      const target = workspaceFilePath(path);
      const limit = readLimit(context.query.get('max_bytes'));
      const read = await answering(() => relativePath(target), () => filesOf(context.services).inWorkspace(workspaceIdOf(context), (place) => place.read(target, limit)));
      await sendReadAnswer(context.res, { path: path!, truncated: read.truncated }, read.chunks, read.bytes);
    },
  },
];
