import * as P from '../../client/protocol';
import type { DashboardSubscriber } from '../../dashboard/dashboard';
import type { HandlerContext } from './context';

/**
 * The dashboard of one client connection: subscribing sends it updates through its
 * notification flow (skipped while it is behind) until it unsubscribes or closes.
 */
export function registerDashboardHandlers({ handle, connection, flow, services: { dashboard } }: HandlerContext): void {
  const subscriber: DashboardSubscriber = {
    send: (update) => flow.send(P.DashboardUpdateNotification.type, update, JSON.stringify(update).length),
    get congested() {
      return flow.congested;
    },
  };
  handle(P.DashboardSubscribeRequest, () => dashboard.subscribe(subscriber));
  handle(P.DashboardUnsubscribeRequest, () => {
    dashboard.unsubscribe(subscriber);
    return null;
  });
  const gone = () => dashboard.unsubscribe(subscriber);
  connection.onClose(gone);
  connection.onDispose(gone);
}
