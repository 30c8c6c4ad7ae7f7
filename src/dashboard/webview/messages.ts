/** The messages between the dashboard panel (extension host) and its webview; both sides import them. */
import type { DashboardSnapshot, DashboardUpdate } from '../../../sidecar/client/dashboardProtocol';

export type ToWebview =
  /** Everything anew: a subscription began (the first, or again after the sidecar restarted). */
  | { type: 'snapshot'; snapshot: DashboardSnapshot }
  | { type: 'update'; update: DashboardUpdate }
  /** Why there are no live figures (the sidecar or Docker is not reachable); absent text: all is well again. */
  | { type: 'problem'; text?: string };

export type FromWebview =
  /** The page loaded (first shown, or shown again after being hidden): it wants a snapshot. */
  { type: 'ready' };
