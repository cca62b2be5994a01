import { ref, watch, type Ref } from "vue";

/** A key the API takes (`^[A-Za-z0-9_-]{8,64}$`): 32 hex characters of a random UUID. */
export function newIdempotencyKey(): string {
  return crypto.randomUUID().replace(/-/g, "");
}

/**
 * One Idempotency-Key per opening of a value-moving dialog (docs/console.md).
 *
 * The key is made when `open` turns true and kept until the dialog closes: a double click, or a retry after a
 * network error or a timeout, sends the same key, so the API applies the operation once and replays its answer.
 * A new opening is a new intention, so it gets a new key.
 */
export function useIdempotencyKey(open: Ref<boolean>): { key: Ref<string> } {
  const key = ref(newIdempotencyKey());
  watch(
    open,
    (now, before) => {
      if (now && !before) key.value = newIdempotencyKey();
    },
    { flush: "sync" },
  );
  return { key };
}
