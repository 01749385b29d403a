// Live progress over grpc-web server streaming (WatchProgress). A dropped
// connection is not the end: the watch reconnects by itself with backoff,
// and the first message after a reconnect is the current state, so nothing
// is missed. It stops when the task completes or fails, or on `stop()`.
import { Code, ConnectError } from "@connectrpc/connect";
import { onBeforeUnmount, ref } from "vue";

import { tasks } from "../api/client";
import { type Progress, TaskStatus } from "../gen/scout/tasks/v1/tasks_pb";

export function useProgress(onEnd: (p: Progress) => void) {
  const progress = ref<Progress | null>(null);
  const reconnecting = ref(false);
  let abort: AbortController | null = null;

  async function watch(taskId: bigint) {
    stop();
    const controller = new AbortController();
    abort = controller;
    let delay = 500;
    while (!controller.signal.aborted) {
      try {
        for await (const msg of tasks.watchProgress({ taskId }, { signal: controller.signal, timeoutMs: 0 })) {
          reconnecting.value = false;
          delay = 500;
          if (msg.progress) {
            progress.value = msg.progress;
            const s = msg.progress.status;
            if (s !== TaskStatus.ANALYZING && s !== TaskStatus.COMPOSING) {
              controller.abort();
              onEnd(msg.progress);
              return;
            }
          }
        }
        // The server ended the stream without a final state (a redeploy,
        // a timeout): watch again.
      } catch (e) {
        if (controller.signal.aborted) {
          return;
        }
        const err = ConnectError.from(e);
        if (err.code === Code.NotFound || err.code === Code.PermissionDenied) {
          return;
        }
        reconnecting.value = true;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 8000);
    }
  }

  function stop() {
    abort?.abort();
    abort = null;
  }

  onBeforeUnmount(stop);
  return { progress, reconnecting, watch, stop };
}
