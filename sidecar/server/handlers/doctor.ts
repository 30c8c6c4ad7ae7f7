import * as P from '../../client/protocol';
import type { HandlerContext } from './context';

/** Diagnostics: every check's line, whether or not Docker answers. */
export function registerDoctorHandlers({ handle, services }: HandlerContext): void {
  handle(P.DoctorRequest, () => services.doctor.run());
}
