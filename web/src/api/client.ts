// One grpc-web transport for the whole app (connect-web), created once and
// shared by every service client. Requests carry the access token; a call
// refused for an expired token refreshes it (once, shared by concurrent
// calls) and is sent again, so an expired session never shows.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

import { IdentityService } from "../gen/scout/identity/v1/identity_pb";
import { PublishService } from "../gen/scout/publish/v1/publish_pb";
import { RenderService } from "../gen/scout/render/v1/render_pb";
import { TasksService } from "../gen/scout/tasks/v1/tasks_pb";

/** Where the access token comes from: the session store registers itself. */
export interface TokenSource {
  accessToken(): string | undefined;
  /** Gets a new access token with the refresh token; false when the session is over. */
  refresh(): Promise<boolean>;
}

let tokens: TokenSource | undefined;

export function useTokens(source: TokenSource): void {
  tokens = source;
}

let counter = 0;

/** A request id per call, so the edge's logs and the app's errors line up. */
const requestId: Interceptor = (next) => async (req) => {
  counter += 1;
  req.header.set("x-request-id", `web-${Date.now().toString(36)}-${counter}`);
  return next(req);
};

const auth: Interceptor = (next) => async (req) => {
  const token = tokens?.accessToken();
  if (token) {
    req.header.set("authorization", `Bearer ${token}`);
  }
  try {
    return await next(req);
  } catch (e) {
    const err = ConnectError.from(e);
    if (err.code !== Code.Unauthenticated || !token || !tokens) {
      throw err;
    }
    if (!(await tokens.refresh())) {
      throw err;
    }
    req.header.set("authorization", `Bearer ${tokens.accessToken() ?? ""}`);
    return next(req);
  }
};

export const transport = createGrpcWebTransport({
  baseUrl: window.location.origin,
  useBinaryFormat: true,
  interceptors: [requestId, auth],
});

export const identity = createClient(IdentityService, transport);
export const tasks = createClient(TasksService, transport);
export const render = createClient(RenderService, transport);
export const publish = createClient(PublishService, transport);
