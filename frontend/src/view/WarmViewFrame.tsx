// Chromium runs sandboxed frames in a process of their own (one per site), started when the
// first one appears and ended with the last: about 65 ms more on opening a view when no other
// view frame exists, measured in the e2e suite. An idle frame kept while plugins run keeps that
// process warm. It is given nothing and can do nothing: its script waits for a message only
// this page would send.

import { VIEW_FRAME_PATH, VIEW_FRAME_SANDBOX } from './protocol';

/** A hidden, idle view frame that keeps the browser's process for view frames alive. */
export function WarmViewFrame() {
  return <iframe sandbox={VIEW_FRAME_SANDBOX} src={VIEW_FRAME_PATH} hidden tabIndex={-1} aria-hidden="true" title="" />;
}
