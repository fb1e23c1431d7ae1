/**
 * One closed flow window: passes of a checkpoint and direction in [window_start, +window_len_s).
 * The stream's window engine makes them, the congestion levels read them, and the stores keep
 * them in table `traffic_flow_window`; this is the one shape all of them share.
 */
export interface FlowWindow {
  kkmc: string;
  fxlx: string;
  /** China local time `YYYY-MM-DD HH:mm:ss`. */
  window_start: string;
  window_len_s: number;
  /** Records counted while the window was open. */
  passes: number;
  /** Records that arrived after the window had closed. */
  late: number;
}
