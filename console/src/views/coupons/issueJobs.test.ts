import { describe, expect, it } from "vitest";

import type { components } from "../../api/client";
import { allTemplates, failureReason, MAX_TEMPLATE_PAGES, templateName, withJob } from "./issueJobs";

type Job = components["schemas"]["IssueJobView"];
type Template = components["schemas"]["AdminTemplateView"];

const template = (id: string, name: string, status: string) => ({ template_id: id, name, status }) as unknown as Template;
const job = (id: string, status: Job["status"], issued: number): Job => ({
  job_id: id, template_id: "CT1", status, member_count: 2, filter: null, scanned: issued, issued, failed: 0,
  last_error: null, created_by: "admin", created_at: new Date().toISOString(), finished_at: null,
});

describe("allTemplates", () => {
  it("reads every page the API gives, whatever the template's status", async () => {
    const pages: Record<string, { items: Template[]; cursor: string | null }> = {
      first: { items: [template("CT1", "回馈券", "active")], cursor: "c2" },
      c2: { items: [template("CT2", "旧券", "ended")], cursor: null },
    };
    const asked: (string | null)[] = [];
    const all = await allTemplates(async (cursor) => {
      asked.push(cursor);
      return pages[cursor ?? "first"];
    });
    expect(asked).toEqual([null, "c2"]);
    expect(all.map((tpl) => tpl.name)).toEqual(["回馈券", "旧券"]);
  });

  it("stops after its bound when the cursor never ends", async () => {
    let calls = 0;
    await allTemplates(async () => {
      calls++;
      return { items: [], cursor: "again" };
    });
    expect(calls).toBe(MAX_TEMPLATE_PAGES);
  });
});

describe("templateName", () => {
  it("names a job's template, its id when the template was not read", () => {
    const templates = [template("CT1", "回馈券", "paused")];
    expect(templateName(templates, "CT1")).toBe("回馈券");
    expect(templateName(templates, "CTgone")).toBe("CTgone");
  });
});

describe("withJob", () => {
  it("puts the polled state in its row and leaves the other rows and their order", () => {
    const shown = [job("J2", "RUNNING", 0), job("J1", "DONE", 5)];
    const fresh = job("J2", "DONE", 2);
    const after = withJob(shown, fresh);
    expect(after.map((j) => [j.job_id, j.status, j.issued])).toEqual([["J2", "DONE", 2], ["J1", "DONE", 5]]);
    expect(after[1]).toBe(shown[1]);
    expect(shown[0].status).toBe("RUNNING"); // a new array: the shallow ref sees the change
  });

  it("changes nothing for a job not on the shown pages", () => {
    const shown = [job("J1", "DONE", 5)];
    expect(withJob(shown, job("J9", "DONE", 1))).toEqual(shown);
  });
});

describe("failureReason", () => {
  it("says each member refusal in Chinese and in English, nothing for an issued member", () => {
    for (const code of ["SOLD_OUT", "CARD_NOT_OPEN", "MEMBER_NOT_FOUND", "TIER_NOT_ELIGIBLE", "NOT_FOUND"]) {
      expect(failureReason(code, "zh-CN")).not.toBe(code);
      expect(failureReason(code, "zh-CN")).toMatch(/[\u4e00-\u9fff]/);
      expect(failureReason(code, "en")).not.toBe(code);
      expect(failureReason(code, "en")).toMatch(/^[A-Z][a-z ]+$/);
    }
    expect(failureReason("SOLD_OUT", "zh-CN")).toBe("已发完");
    expect(failureReason("SOLD_OUT", "en")).toBe("Sold out");
    expect(failureReason("KeyError", "en")).toBe("KeyError");
    expect(failureReason("KeyError", "zh-CN")).toBe("KeyError");
    expect(failureReason(null, "zh-CN")).toBe("");
  });
});
