import { ElMessage } from "element-plus";

import { ApiError } from "../api/client";
import { i18n } from "../locales";
import { apiMessage } from "../locales/apiErrors";

/** The API's refusal in the user's language, where the user acted; a network failure says so (the form keeps
 * what was typed). */
export function messageOf(error: unknown): string {
  if (!(error instanceof ApiError)) return i18n.global.t("errors.unknown");
  if (error.code === "NETWORK") return i18n.global.t("errors.network");
  return apiMessage(error.code, error.message, i18n.global.locale.value);
}

export function showError(error: unknown): void {
  ElMessage.error({ message: messageOf(error), grouping: true });
}
