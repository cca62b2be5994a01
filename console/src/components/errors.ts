import { ElMessage } from "element-plus";

import { ApiError } from "../api/client";
import { i18n } from "../locales";

/** The API's message where the user acted; a network failure says so (the form keeps what was typed). */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.code === "NETWORK" ? i18n.global.t("errors.network") : error.message;
  return i18n.global.t("errors.unknown");
}

export function showError(error: unknown): void {
  ElMessage.error({ message: messageOf(error), grouping: true });
}
