import { defineStore } from "pinia";
import { computed, ref } from "vue";

import { ApiError, api, call, connectSession } from "../api/client";
import { messageOf } from "../components/errors";

export type Role = "admin" | "staff";

interface Saved {
  token: string;
  role: Role;
  storeId: string | null;
  merchantId: string;
  username: string;
  expiresAt: number;
}

const KEY = "kabao.console.session";

/**
 * Who is signed in. Kept in localStorage so a reload stays signed in; the API decides whether the token still
 * holds (a revoked or expired session is a 401 on the next call, which signs out here with the API's message).
 */
export const useSession = defineStore("session", () => {
  const saved = ref<Saved | null>(read());
  const notice = ref<string | null>(null);

  const signedIn = computed(() => saved.value !== null);
  /** A session whose token has run out here: signed out with a message before the API has to say so. */
  const expired = () => saved.value !== null && saved.value.expiresAt <= Date.now();
  const role = computed(() => saved.value?.role ?? null);

  async function signIn(merchantId: string, username: string, password: string): Promise<Role> {
    const answer = await call(
      api.POST("/v1/staff/login", { body: { merchant_id: merchantId, username, password } }),
    );
    const role: Role = answer.role === "admin" ? "admin" : "staff";
    saved.value = {
      token: answer.token,
      role,
      storeId: answer.store_id,
      merchantId,
      username,
      expiresAt: Date.now() + answer.expires_in * 1000,
    };
    notice.value = null;
    localStorage.setItem(KEY, JSON.stringify(saved.value));
    return role;
  }

  function signOut(message: string | null = null): void {
    saved.value = null;
    notice.value = message;
    localStorage.removeItem(KEY);
  }

  /** Every session of this account ends (the API bumps its token version), this one too. */
  async function signOutEverywhere(): Promise<void> {
    const me = saved.value;
    if (me?.role === "admin") {
      await call(api.POST("/v1/admin/staff/{username}/revoke-sessions", { params: { path: { username: me.username } } }));
    }
    signOut();
  }

  connectSession(
    () => saved.value?.token ?? null,
    (error: ApiError) => {
      signOut(messageOf(error));
      // the router's guard sends the user to sign-in; here only the state changes (no import cycle)
      window.dispatchEvent(new CustomEvent("kabao:session-over"));
    },
  );

  return { saved, notice, signedIn, expired, role, signIn, signOut, signOutEverywhere };
});

function read(): Saved | null {
  try {
    const text = localStorage.getItem(KEY);
    const value = text ? (JSON.parse(text) as Saved) : null;
    return value;
  } catch {
    return null;
  }
}
