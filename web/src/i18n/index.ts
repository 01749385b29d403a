// `t("login.sent", { m: 5 })`: the string for the current locale, with
// `{m}` filled in. Chinese by default; the choice is remembered.
import { computed, ref } from "vue";

import { type Locale, messages } from "./messages";

const STORAGE_KEY = "scout.locale";

function initial(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY);
  return saved === "en" || saved === "zh" ? saved : "zh";
}

const locale = ref<Locale>(initial());

function lookup(tree: unknown, path: string[]): string | undefined {
  let node = tree;
  for (const part of path) {
    if (node === null || typeof node !== "object" || !(part in node)) {
      return undefined;
    }
    node = (node as Record<string, unknown>)[part];
  }
  return typeof node === "string" ? node : undefined;
}

/** The string for `key` in the current locale (the key itself if missing). */
export function t(key: string, params: Record<string, string | number> = {}): string {
  const text = lookup(messages[locale.value], key.split(".")) ?? lookup(messages.zh, key.split(".")) ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

export function useI18n() {
  return {
    t,
    locale: computed(() => locale.value),
    toggle() {
      locale.value = locale.value === "zh" ? "en" : "zh";
      localStorage.setItem(STORAGE_KEY, locale.value);
      document.documentElement.lang = locale.value === "zh" ? "zh-CN" : "en";
    },
  };
}
