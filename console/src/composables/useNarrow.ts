import { onBeforeUnmount, onMounted, ref, type Ref } from "vue";

/** Below 768 px: a phone or a small tablet (the till at 375 px). The layout's sidebar becomes a drawer there and
 * multi-column summaries become one column, so nothing pushes the page sideways. Follows the window's resizes. */
export function useNarrow(): Ref<boolean> {
  const narrow = ref(window.innerWidth < 768);
  const measure = () => (narrow.value = window.innerWidth < 768);
  onMounted(() => window.addEventListener("resize", measure));
  onBeforeUnmount(() => window.removeEventListener("resize", measure));
  return narrow;
}
