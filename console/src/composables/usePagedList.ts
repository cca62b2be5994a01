import { ref, shallowRef, type Ref } from "vue";

export interface Page<T> {
  items: T[];
  cursor: string | null;
}

/**
 * A list read page by page with the API's opaque cursors: nothing loads a whole table. `reload` starts again
 * from the first page (a new search); `more` appends the next page while the API gives a cursor. A failed page
 * keeps what was shown and its error, so the user can try again.
 */
export function usePagedList<T>(fetchPage: (cursor: string | null) => Promise<Page<T>>) {
  const items: Ref<T[]> = shallowRef([]);
  const cursor = ref<string | null>(null);
  const loading = ref(false);
  const error = ref<unknown>(null);
  const started = ref(false);
  let generation = 0;

  async function load(from: string | null, append: boolean): Promise<void> {
    const mine = ++generation;
    loading.value = true;
    error.value = null;
    try {
      const page = await fetchPage(from);
      if (mine !== generation) return; // a newer search answered first
      items.value = append ? [...items.value, ...page.items] : page.items;
      cursor.value = page.cursor;
      started.value = true;
    } catch (e) {
      if (mine === generation) error.value = e;
      throw e;
    } finally {
      if (mine === generation) loading.value = false;
    }
  }

  return {
    items,
    cursor,
    loading,
    error,
    hasMore: () => started.value && cursor.value !== null,
    reload: () => load(null, false),
    more: () => (cursor.value === null ? Promise.resolve() : load(cursor.value, true)),
  };
}
