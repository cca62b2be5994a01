import { createI18n } from "vue-i18n";

import en from "./en";
import zhCN from "./zh-CN";

export type Locale = "zh-CN" | "en";
const KEY = "kabao.console.locale";

export const i18n = createI18n({
  legacy: false,
  locale: (localStorage.getItem(KEY) as Locale | null) ?? "zh-CN",
  fallbackLocale: "zh-CN",
  messages: { "zh-CN": zhCN, en },
});

export function setLocale(locale: Locale): void {
  i18n.global.locale.value = locale;
  localStorage.setItem(KEY, locale);
  document.documentElement.lang = locale;
}
