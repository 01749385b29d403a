// The generated enums as the short names the API and the translations use
// (TaskStatus.SCRIPT_READY → "script_ready"), and which badge a status wears.
import { ShopType, ShotCategory, SubtitleStyle, VideoStyle } from "../gen/scout/common/v1/common_pb";
import { SceneKind } from "../gen/scout/render/v1/render_pb";
import { Recipe, TaskStatus, TaskStep, TopicVisuals } from "../gen/scout/tasks/v1/tasks_pb";

export function short<E extends Record<string | number, string | number>>(e: E, value: number): string {
  const name = e[value];
  return typeof name === "string" && name !== "UNSPECIFIED" ? name.toLowerCase() : "";
}

export const statusName = (s: TaskStatus) => short(TaskStatus, s);
export const shopTypeName = (s: ShopType) => short(ShopType, s);
export const styleName = (s: VideoStyle) => short(VideoStyle, s);
export const categoryName = (c: ShotCategory) => short(ShotCategory, c);
export const subtitleStyleName = (s: SubtitleStyle) => short(SubtitleStyle, s);
export const stepName = (s: TaskStep) => short(TaskStep, s);
export const recipeName = (r: Recipe) => short(Recipe, r) || "shop_review";
export const sceneKindName = (k: SceneKind) => short(SceneKind, k);

/** The recipes a user can start, in the order the form offers them. */
export const RECIPES = [
  Recipe.SHOP_REVIEW,
  Recipe.DOC_EXPLAINER,
  Recipe.TOPIC_SHORT,
  Recipe.MUSIC_VIDEO,
  Recipe.AD_CREATIVE,
];
/** Whether a recipe writes a short from a topic (clips optional, as its library). */
export const isTopic = (r: Recipe) => r === Recipe.TOPIC_SHORT;
/** Where a topic short's pictures come from, as the translations name them. */
export const TOPIC_VISUALS = [TopicVisuals.UNSPECIFIED, TopicVisuals.GENERATED, TopicVisuals.LIBRARY];
export const topicVisualsName = (v: TopicVisuals) => short(TopicVisuals, v) || "auto";
/** Whether a recipe explains a document (its script is the document's slides). */
export const isDocument = (r: Recipe) => r === Recipe.DOC_EXPLAINER;
/** Seed 001's accent colours, as the API names them, with their colour. */
export const ACCENTS: [string, string][] = [
  ["blue", "#3B82F6"],
  ["orange", "#F97316"],
  ["purple", "#8B5CF6"],
  ["green", "#10B981"],
  ["pink", "#EC4899"],
  ["cyan", "#06B6D4"],
];
/** Whether a recipe composes from images and a backing track (no script). */
export const isMontage = (r: Recipe) => r === Recipe.MUSIC_VIDEO || r === Recipe.AD_CREATIVE;

/** The badge of a status: busy (a job runs), ready (the user acts), done, failed. */
export function badgeOf(s: TaskStatus): string {
  switch (s) {
    case TaskStatus.ANALYZING:
    case TaskStatus.COMPOSING:
      return "busy";
    case TaskStatus.COMPLETED:
      return "done";
    case TaskStatus.FAILED:
      return "failed";
    case TaskStatus.SCRIPT_READY:
    case TaskStatus.SCRIPT_EDITED:
    case TaskStatus.VOICE_SET:
      return "ready";
    default:
      return "";
  }
}

export const SHOP_TYPES = [ShopType.FOOD, ShopType.BEAUTY, ShopType.ENTERTAINMENT, ShopType.OTHER];
export const STYLES = [VideoStyle.RECOMMEND, VideoStyle.REVIEW, VideoStyle.VLOG];
export const SUBTITLE_STYLES = [
  SubtitleStyle.SIMPLE_WHITE,
  SubtitleStyle.VIBRANT_YELLOW,
  SubtitleStyle.XIAOHONGSHU,
  SubtitleStyle.DOUYIN_HOT,
  SubtitleStyle.NEON,
  SubtitleStyle.KARAOKE,
];
