// What an error means to a person: the server's message (Scout's errors
// say what is wrong), the request field to mark (from the ErrorInfo detail
// every Scout error carries), and when a retry makes sense.
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
}

export function problem(e: unknown): Problem {
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
