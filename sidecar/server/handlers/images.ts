import * as P from '../../client/protocol';
import type { HandlerContext } from './context';

/** The engine's local images: a read of Docker's own state, no domain rules in between. */
export function registerImageHandlers({ handle, services: { engine } }: HandlerContext): void {
  handle(P.ListImagesRequest, () => engine.listImages());
}
