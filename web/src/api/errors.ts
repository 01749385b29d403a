// What an error means to a person: the server's message (Scout's errors
// say what is wrong), the request field to mark (from the ErrorInfo detail
// every Scout error carries), and when a retry makes sense. The same for
// both ways the app talks to the server: grpc-web (a ConnectError) and the
// REST API the admin page uses (a RestError, thrown by api/rest.ts).
import { Code, ConnectError } from "@connectrpc/connect";

import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";
import { t } from "../i18n";

/** The parts of a failed call the app shows. */
export interface Problem {
  /** The server's message, or a plain one for transport failures. */
  message: string;
  /** The business code (40201, …), 0 for transport failures. */
  code: number;
  /** The request field it is about (`shop_name`, `code`), if any. */
  field?: string;
  /** True when the network, not the request, failed. */
  network: boolean;
  /** Seconds the server asks to wait before trying again. */
  retryAfter?: number;
  /** The HTTP status of a failed REST call (401, 403, …); absent for grpc-web. */
  status?: number;
}

/** A failed REST call: the envelope's business code and message, the HTTP status. */
export class RestError extends Error {
  override name = "RestError";

  constructor(
    message: string,
    /** The business code (40101, …); 0 when no envelope came back. */
    readonly code: number,
    /** The HTTP status; 0 when the request never got an answer. */
    readonly status: number,
    /** The request field the error is about, from the envelope's details. */
    readonly field?: string,
    /** Seconds to wait, from Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** True when the network, not the request, failed. */
  get network(): boolean {
    return this.status === 0;
  }

  /** True for a 403: the caller may not do this (on the admin page: not an admin). */
  get forbidden(): boolean {
    return this.status === 403;
  }
}

export function problem(e: unknown): Problem {
  if (e instanceof RestError) {
    return {
      message: e.network ? t("common.unreachable") : e.message,
      code: e.code,
      field: e.field,
      network: e.network,
      retryAfter: e.retryAfter,
      status: e.status,
    };
  }
  return grpcProblem(e);
}

function grpcProblem(e: unknown): Problem {
  const err = ConnectError.from(e);
  const info = err.findDetails(ErrorInfoSchema)[0];
  const retry = err.findDetails(RetryInfoSchema)[0];
  const network = !info && (err.code === Code.Unavailable || err.code === Code.Unknown || err.code === Code.Canceled);
  return {
    message: network ? t("common.networkError") : err.rawMessage || err.message,
    code: Number(info?.metadata.code ?? 0),
    field: info?.metadata.field,
    network,
    retryAfter: retry?.retryDelay ? Number(retry.retryDelay.seconds) : undefined,
  };
}
