import * as P from '../../client/protocol';
import type { HandlerContext } from './context';

/** Status, shutdown, the pool and settings: the daemon's own requests. */
export function registerDaemonHandlers({ handle, services }: HandlerContext): void {
  handle(P.StatusRequest, () => services.status());
  handle(P.ShutdownSidecarRequest, () => {
    // Answer first, then exit: the client should see the acknowledgement. setImmediate (a
    // turn of the event loop, not a timer) lets the answer's socket write go out first.
    setImmediate(() => void services.shutdown('requested by a client'));
    return null;
  });
  handle(P.SwitchEngineRequest, async (params) => {
    await services.switchEngine(params.engineId);
    return null;
  });
  handle(P.PoolStatusRequest, () => services.pool.status());
  handle(P.ApiInfoRequest, () => services.api.info());
  handle(P.RotateApiTokenRequest, () => services.api.rotateToken());
  handle(P.GetConfigRequest, (params) => services.config.get(params.key));
  handle(P.SetConfigRequest, async (params) => {
    await services.config.set(params.values);
    return services.config.get();
  });
}
