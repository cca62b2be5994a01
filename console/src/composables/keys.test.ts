import { describe, expect, it } from "vitest";
import { ref } from "vue";

import { newIdempotencyKey, useIdempotencyKey } from "./useIdempotencyKey";
import { usePagedList } from "./usePagedList";

describe("useIdempotencyKey", () => {
  it("makes keys the API takes", () => {
    const key = newIdempotencyKey();
    expect(key).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    expect(newIdempotencyKey()).not.toBe(key);
  });

  it("keeps one key while the dialog stays open, whatever is retried", () => {
    const open = ref(false);
    const { key } = useIdempotencyKey(open);
    open.value = true;
    const first = key.value;
    // a double click and a retry after a network error read the key again: the same
    expect(key.value).toBe(first);
    expect(key.value).toBe(first);
    open.value = true; // set again while open (a second click on the opener): still the same key
    expect(key.value).toBe(first);
  });

  it("makes a new key for each opening", () => {
    const open = ref(true);
    const { key } = useIdempotencyKey(open);
    open.value = false;
    open.value = true;
    const second = key.value;
    open.value = false;
    expect(key.value).toBe(second); // closing does not change it (a late answer still matches)
    open.value = true;
    expect(key.value).not.toBe(second);
  });
});

describe("usePagedList", () => {
  const pages: Record<string, { items: number[]; cursor: string | null }> = {
    first: { items: [1, 2], cursor: "c2" },
    c2: { items: [3], cursor: null },
  };

  it("follows the API's cursors and stops at the last page", async () => {
    const asked: (string | null)[] = [];
    const list = usePagedList<number>(async (cursor) => {
      asked.push(cursor);
      return pages[cursor ?? "first"];
    });
    expect(list.hasMore()).toBe(false);
    await list.reload();
    expect(list.items.value).toEqual([1, 2]);
    expect(list.hasMore()).toBe(true);
    await list.more();
    expect(list.items.value).toEqual([1, 2, 3]);
    expect(list.hasMore()).toBe(false);
    await list.more(); // nothing more to ask for
    expect(asked).toEqual([null, "c2"]);
  });

  it("keeps what it showed when a page fails", async () => {
    let fail = false;
    const list = usePagedList<number>(async (cursor) => {
      if (fail) throw new Error("network");
      return pages[cursor ?? "first"];
    });
    await list.reload();
    fail = true;
    await expect(list.more()).rejects.toThrow("network");
    expect(list.items.value).toEqual([1, 2]);
    expect(list.error.value).toBeInstanceOf(Error);
    expect(list.cursor.value).toBe("c2"); // the same page can be asked for again
  });
});
