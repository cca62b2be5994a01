import type { components } from "../../api/client";
import type { Page } from "../../composables/usePagedList";
import { apiMessage } from "../../locales/apiErrors";

type Job = components["schemas"]["IssueJobView"];
type Template = components["schemas"]["AdminTemplateView"];

/** Pages read at most for the template names: a merchant with more templates sees the rest by id, the page
 * still opens (each page is the API's largest, 100). */
export const MAX_TEMPLATE_PAGES = 20;

/**
 * Every template of the merchant, whatever its status, read page by page: a job's template may since have
 * been paused or ended, and the jobs table names it all the same.
 */
export async function allTemplates(fetchPage: (cursor: string | null) => Promise<Page<Template>>): Promise<Template[]> {
  const all: Template[] = [];
  let cursor: string | null = null;
  for (let n = 0; n < MAX_TEMPLATE_PAGES; n++) {
    const page = await fetchPage(cursor);
    all.push(...page.items);
    cursor = page.cursor;
    if (cursor === null) break;
  }
  return all;
}

/** A job's template by its name; its id when the template was not read (deleted, or beyond the pages read). */
export function templateName(templates: readonly Template[], templateId: string): string {
  return templates.find((tpl) => tpl.template_id === templateId)?.name ?? templateId;
}

/**
 * The jobs table with one job's newer state in its row (status and counts, as the poll read it): the page the
 * user is on stays as it is, nothing is reloaded. A job not on the shown pages changes nothing.
 */
export function withJob(jobs: readonly Job[], fresh: Job): Job[] {
  return jobs.map((job) => (job.job_id === fresh.job_id ? fresh : job));
}

/** The refusals a job records for a member (coupons/issue_jobs.py `MEMBER_ERRORS`) in English: a result holds
 * only the code, with no API message to show as the other English errors do. */
const MEMBER_REFUSALS_EN: Record<string, string> = {
  SOLD_OUT: "Sold out",
  CARD_NOT_OPEN: "No card opened",
  MEMBER_NOT_FOUND: "Member not found",
  TIER_NOT_ELIGIBLE: "Tier not eligible",
  NOT_FOUND: "Not found",
};

/** Why a member got none, in the user's language: the result holds the API's error code (SOLD_OUT…), said
 * through the console's words for API errors; a code without words (a bug's exception name) shows as it is. */
export function failureReason(code: string | null | undefined, locale: string): string {
  if (!code) return "";
  return locale === "zh-CN" ? apiMessage(code, code, locale) : (MEMBER_REFUSALS_EN[code] ?? code);
}
