import { createI18n } from "vue-i18n";

import zhCN from "./zh-CN";

export type Locale = "zh-CN" | "en";
const KEY = "kabao.console.locale";

/** zh-CN ships with the first load; English is its own chunk, fetched when chosen (bench/README.md: the budget). */
export const i18n = createI18n({
  legacy: false,
  locale: "zh-CN",
  fallbackLocale: "zh-CN",
  // typed as both languages: English arrives through setLocale before it is ever the locale
  messages: { "zh-CN": zhCN } as Record<Locale, typeof zhCN>,
});

export async function setLocale(locale: Locale): Promise<void> {
  if (locale === "en" && !i18n.global.availableLocales.includes("en")) {
    i18n.global.setLocaleMessage("en", (await import("./en")).default);
  }
  i18n.global.locale.value = locale;
  localStorage.setItem(KEY, locale);
  document.documentElement.lang = locale;
}

/** The language chosen before (English loaded first if so): main.ts mounts the app once it is there. */
export const localeReady: Promise<void> = setLocale(localStorage.getItem(KEY) === "en" ? "en" : "zh-CN").catch(() => {});
