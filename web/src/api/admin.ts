// The admin REST API (IdentityAdminService and TasksAdminService under
// /api/v1/admin/...) as the JSON the edge writes: proto3 JSON with
// snake_case names, 64-bit integers as numbers, enums as their short
// lowercase names (null for the zero value), timestamps as RFC 3339
// strings. Written by hand from proto/scout/{identity,tasks,render,common}/v1;
// every field may be missing or null, so readers default them.
import { restGet, restSend } from "./rest";

// ---- enums (short names) ----------------------------------------------------

export type Membership = "free" | "basic" | "pro";
export const MEMBERSHIPS: Membership[] = ["free", "basic", "pro"];

export type TaskStatusName =
  | "created"
  | "uploading"
  | "analyzing"
  | "script_ready"
  | "script_edited"
  | "voice_set"
  | "composing"
  | "completed"
  | "failed";
export const TASK_STATUSES: TaskStatusName[] = [
  "created",
  "uploading",
  "analyzing",
  "script_ready",
  "script_edited",
  "voice_set",
  "composing",
  "completed",
  "failed",
];

export type ShopTypeName = "food" | "beauty" | "entertainment" | "other";
export const SHOP_TYPE_NAMES: ShopTypeName[] = ["food", "beauty", "entertainment", "other"];

export type TaskStepName = "upload" | "analyze" | "script" | "compose";

export type DeadLetterState = "pending" | "replayed" | "discarded";
export const DEAD_LETTER_STATES: DeadLetterState[] = ["pending", "replayed", "discarded"];

/** The job kinds that have topics and dead letters. */
export const JOB_KINDS = ["analyze", "compose"];

/** The badge a status wears, as names.ts's badgeOf does for the enum. */
export function badgeOfName(s: string | null | undefined): string {
  switch (s) {
    case "analyzing":
    case "composing":
      return "busy";
    case "completed":
      return "done";
    case "failed":
      return "failed";
    case "script_ready":
    case "script_edited":
    case "voice_set":
      return "ready";
    default:
      return "";
  }
}

// ---- shared (scout.common.v1) ------------------------------------------------

export interface Pagination {
  page?: number;
  page_size?: number;
  total?: number;
  total_pages?: number;
}

/** One admin action, as identity and tasks each record them. */
export interface AuditEntry {
  id?: number;
  admin_id?: number;
  action?: string;
  target?: string;
  detail?: string;
  created_at?: string | null;
}

export interface ShopInfo {
  name?: string;
  type?: ShopTypeName | null;
  promotion_text?: string;
  style?: string | null;
}

// ---- identity (IdentityAdminService) ----------------------------------------

export interface AdminUser {
  id: number;
  /** Masked, 138****8000. */
  phone?: string;
  nickname?: string;
  membership_type?: Membership | null;
  /** "user" or "admin". */
  role?: string;
  disabled?: boolean;
  created_at?: string | null;
}

export interface SearchUsersResponse {
  items?: AdminUser[];
  pagination?: Pagination | null;
}

export interface AuditLogResponse {
  items?: AuditEntry[];
  pagination?: Pagination | null;
}

// ---- tasks (TasksAdminService) ----------------------------------------------

export interface Failure {
  step?: TaskStepName | null;
  message?: string;
  /** ErrorCode's short name (e.g. "provider_failed"). */
  code?: string | number | null;
  attempts?: number;
  failed_at?: string | null;
}

export interface Task {
  id: number;
  shop?: ShopInfo | null;
  status?: TaskStatusName | null;
  video_count?: number;
  regenerate_remaining?: number;
  failure?: Failure | null;
  provider_note?: string;
  created_at?: string | null;
  updated_at?: string | null;
  /** What the task makes (shop_review, doc_explainer, topic_short, …). */
  recipe?: string | null;
}

export interface AdminTask {
  task?: Task | null;
  user_id?: number;
  current_job_id?: string;
  job_started_at?: string | null;
}

export interface ListAllTasksResponse {
  items?: AdminTask[];
  pagination?: Pagination | null;
}

export interface TaskFilter {
  status?: TaskStatusName | "";
  shop_type?: ShopTypeName | "";
  /** A user id; "" for every owner. */
  user_id?: number | string;
  /** RFC 3339. */
  created_after?: string;
  /** RFC 3339. */
  created_before?: string;
  page?: number;
  page_size?: number;
}

export interface CostLine {
  item?: string;
  description?: string;
  quantity?: number;
  unit?: string;
  unit_price?: number;
  cost?: number;
}

export interface TaskCost {
  task_id?: number;
  lines?: CostLine[];
  total?: number;
  currency?: string;
}

export interface StatusCount {
  status?: TaskStatusName | null;
  count?: number;
}

export interface UserUsage {
  user_id?: number;
  videos_today?: number;
  videos_last_30_days?: number;
  tasks?: StatusCount[];
  storage_bytes?: number;
  estimated_cost?: number;
  currency?: string;
}

export interface QueueTopic {
  kind?: string;
  topic?: string;
  /** "main", "retry" or "dlq". */
  role?: string;
  messages?: number;
  consumer_group?: string;
  lag?: number;
}

export interface ListQueuesResponse {
  topics?: QueueTopic[];
  dead_letters_pending?: number;
}

export interface DeadLetter {
  id: number;
  kind?: string;
  job_id?: string;
  task_id?: number;
  attempts?: number;
  error?: string;
  state?: DeadLetterState | null;
  created_at?: string | null;
  resolved_at?: string | null;
  resolved_by?: number;
}

export interface ListDeadLettersResponse {
  items?: DeadLetter[];
  pagination?: Pagination | null;
}

/** Which dead letters a replay or discard is about: ids, or every pending one (of a kind). */
export interface DeadLetterSelection {
  ids?: number[];
  all?: boolean;
  kind?: string;
  reason?: string;
}

export interface DeadLetterOutcome {
  id?: number;
  done?: boolean;
  detail?: string;
}

export interface DeadLetterOutcomes {
  outcomes?: DeadLetterOutcome[];
}

// ---- render nodes (scout.render.v1.CapabilitiesResponse) ---------------------

export interface CodecInfo {
  name?: string;
  long_name?: string;
  hardware?: boolean;
}

export interface GpuDevice {
  index?: number;
  name?: string;
  compute_capability?: string;
  memory_total_bytes?: number;
  memory_free_bytes?: number;
  nvenc_present?: boolean;
  nvenc_detail?: string;
}

export interface NvidiaInfo {
  present?: boolean;
  driver_version?: string;
  devices?: GpuDevice[];
  nvdec_library?: boolean;
  nvenc_library?: boolean;
  detail?: string;
}

export interface Capabilities {
  ffmpeg_version?: string;
  libavcodec_version?: string;
  h264_encoders?: CodecInfo[];
  h264_decoders?: CodecInfo[];
  hevc_decoders?: CodecInfo[];
  hwaccels?: string[];
  nvidia?: NvidiaInfo | null;
  compose_encoder?: string;
  compose_decoder?: string;
  gpu_fallbacks?: number;
}

export interface RenderNode {
  node_id?: string;
  hostname?: string;
  version?: string;
  capabilities?: Capabilities | null;
  active_composes?: number;
  started_at?: string | null;
  last_seen_at?: string | null;
  alive?: boolean;
}

export interface ListRenderNodesResponse {
  nodes?: RenderNode[];
}

// ---- calls -------------------------------------------------------------------

const A = "/api/v1/admin";

export const admin = {
  searchUsers: (query: string, page = 1, pageSize = 20) =>
    restGet<SearchUsersResponse>(`${A}/users`, { query, page, page_size: pageSize }),
  /** PUT …/membership, response_body user: the data is the AdminUser. */
  setMembership: (userId: number, membership: Membership, reason: string) =>
    restSend<AdminUser>("PUT", `${A}/users/${userId}/membership`, { membership_type: membership, reason }),
  /** POST …/disable, response_body user: the data is the AdminUser. */
  disableUser: (userId: number, reason: string) =>
    restSend<AdminUser>("POST", `${A}/users/${userId}/disable`, { reason }),
  auditLog: (page = 1, pageSize = 50) => restGet<AuditLogResponse>(`${A}/audit-log`, { page, page_size: pageSize }),

  listTasks: (f: TaskFilter) =>
    restGet<ListAllTasksResponse>(`${A}/tasks`, {
      status: f.status,
      shop_type: f.shop_type,
      user_id: f.user_id,
      created_after: f.created_after,
      created_before: f.created_before,
      page: f.page,
      page_size: f.page_size,
    }),
  /** POST …/retry, response_body task: the data is the AdminTask. */
  retryTask: (taskId: number, reason: string) =>
    restSend<AdminTask>("POST", `${A}/tasks/${taskId}/retry`, { reason }),
  /** DELETE has no body: the reason goes in the query. */
  deleteTask: (taskId: number, reason: string) =>
    restSend<Record<string, never>>("DELETE", `${A}/tasks/${taskId}`, undefined, { reason }),
  /** response_body cost: the data is the TaskCost. */
  taskCost: (taskId: number) => restGet<TaskCost>(`${A}/tasks/${taskId}/cost`),
  /** response_body usage: the data is the UserUsage. */
  userUsage: (userId: number) => restGet<UserUsage>(`${A}/users/${userId}/usage`),
  queues: () => restGet<ListQueuesResponse>(`${A}/jobs/queues`),
  deadLetters: (kind: string, state: DeadLetterState | "", page = 1, pageSize = 20) =>
    restGet<ListDeadLettersResponse>(`${A}/jobs/dead-letters`, { kind, state, page, page_size: pageSize }),
  replayDeadLetters: (sel: DeadLetterSelection) =>
    restSend<DeadLetterOutcomes>("POST", `${A}/jobs/dead-letters/replay`, sel),
  discardDeadLetters: (sel: DeadLetterSelection) =>
    restSend<DeadLetterOutcomes>("POST", `${A}/jobs/dead-letters/discard`, sel),
  renderNodes: () => restGet<ListRenderNodesResponse>(`${A}/render-nodes`),
  tasksAuditLog: (page = 1, pageSize = 50) =>
    restGet<AuditLogResponse>(`${A}/tasks-audit-log`, { page, page_size: pageSize }),
};

// ---- presentation helpers ------------------------------------------------------

/** An RFC 3339 timestamp as the browser's local date and time; "" for none. */
export function when(ts: string | null | undefined): string {
  if (!ts) {
    return "";
  }
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? ts : d.toLocaleString();
}

/** Bytes as B / KB / MB / GB / TB (1024-based). */
export function bytes(n: number | null | undefined): string {
  let v = Number(n ?? 0);
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** An amount with its currency code, e.g. "¥0.1234 CNY"; small costs keep four decimals. */
export function money(amount: number | null | undefined, currency: string | null | undefined): string {
  const v = Number(amount ?? 0);
  const code = (currency ?? "").trim().toUpperCase();
  const digits = v !== 0 && Math.abs(v) < 1 ? 4 : 2;
  if (/^[A-Z]{3}$/.test(code)) {
    try {
      const f = new Intl.NumberFormat(undefined, {
        style: "currency",
        currency: code,
        currencyDisplay: "narrowSymbol",
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
      return `${f.format(v)} ${code}`;
    } catch {
      // An unknown code: plain number and the code below.
    }
  }
  return `${v.toFixed(digits)}${code ? ` ${code}` : ""}`;
}

/** A quantity without float noise (0.30000000000000004 → 0.3). */
export function qty(n: number | null | undefined): string {
  const v = Number(n ?? 0);
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}
