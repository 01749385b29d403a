// Who is logged in: the tokens (kept across reloads in localStorage, as seed
// 000 §4.2 has it), the user, and the refresh that keeps the session alive.
// One refresh at a time: calls that fail together wait for the same one.
import { Code, ConnectError } from "@connectrpc/connect";
import { defineStore } from "pinia";

import { identity, useTokens } from "../api/client";
import type { User } from "../gen/scout/identity/v1/identity_pb";

const STORAGE_KEY = "scout.session";

interface Saved {
  accessToken: string;
  refreshToken: string;
  /** Unix ms when the access token expires. */
  expiresAt: number;
  userId: string;
  phone: string;
  nickname: string;
}

/** The claims of a JWT (its payload, base64url JSON), unverified: for what the page shows only. */
export function claimsOf(token: string | undefined): Record<string, unknown> {
  const payload = token?.split(".")[1];
  if (!payload) {
    return {};
  }
  try {
    const b64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, "="));
    const json = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    const claims: unknown = JSON.parse(json);
    return claims !== null && typeof claims === "object" ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function load(): Saved | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Saved) : null;
  } catch {
    return null;
  }
}

export const useSession = defineStore("session", {
  state: () => ({ saved: load(), refreshing: null as Promise<boolean> | null }),
  getters: {
    signedIn: (s) => s.saved !== null,
    nickname: (s) => s.saved?.nickname ?? "",
    phone: (s) => s.saved?.phone ?? "",
    /** The access token's `role` claim: "admin" for the admin panel's users, "" otherwise. */
    role: (s) => {
      const role = claimsOf(s.saved?.accessToken).role;
      return typeof role === "string" ? role : "";
    },
    /** Whether to offer the admin page (the server checks every call anyway). */
    isAdmin: (s) => claimsOf(s.saved?.accessToken).role === "admin",
  },
  actions: {
    /** Keeps what a login or refresh answered. */
    remember(tokens: { accessToken: string; refreshToken: string; expiresIn: number; user?: User }) {
      const user = tokens.user;
      this.saved = {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        expiresAt: Date.now() + tokens.expiresIn * 1000,
        userId: user ? user.id.toString() : (this.saved?.userId ?? ""),
        phone: user?.phone ?? this.saved?.phone ?? "",
        nickname: user?.nickname ?? this.saved?.nickname ?? "",
      };
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.saved));
    },

    forget() {
      this.saved = null;
      localStorage.removeItem(STORAGE_KEY);
    },

    async login(phone: string, code: string) {
      const res = await identity.login({ phone, code });
      this.remember({
        accessToken: res.accessToken,
        refreshToken: res.refreshToken,
        expiresIn: res.expiresIn,
        user: res.user,
      });
    },

    /** A new access token from the refresh token; false when the session is over. */
    refresh(): Promise<boolean> {
      if (this.refreshing) {
        return this.refreshing;
      }
      const refreshToken = this.saved?.refreshToken;
      if (!refreshToken) {
        return Promise.resolve(false);
      }
      this.refreshing = identity
        .refreshToken({ refreshToken })
        .then((res) => {
          this.remember({
            accessToken: res.accessToken,
            refreshToken: res.refreshToken,
            expiresIn: res.expiresIn,
          });
          return true;
        })
        .catch((e: unknown) => {
          // Only the server's "no" ends the session (revoked, reused,
          // expired, a disabled account). A refresh that never got an
          // answer (the page reloading under it, the network gone) keeps
          // the tokens: the next call tries again.
          const code = ConnectError.from(e).code;
          if (code !== Code.Unauthenticated && code !== Code.PermissionDenied) {
            return false;
          }
          this.forget();
          window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
          return false;
        })
        .finally(() => {
          this.refreshing = null;
        });
      return this.refreshing;
    },

    async logout() {
      const refreshToken = this.saved?.refreshToken ?? "";
      try {
        await identity.logout({ refreshToken });
      } finally {
        this.forget();
      }
    },

    /** Registers the store as the transport's token source. */
    install() {
      useTokens({
        accessToken: () => this.saved?.accessToken,
        refresh: () => this.refresh(),
      });
    },
  },
});
