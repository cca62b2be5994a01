import { createRouter, createWebHistory, type RouteLocationNormalized } from "vue-router";

import { i18n } from "../locales";
import { useSession, type Role } from "../stores/session";

declare module "vue-router" {
  interface RouteMeta {
    /** Who may open the page; none: anyone (sign-in). */
    role?: Role;
  }
}

/** Each area is its own chunk: the till never downloads the dashboard's charts. */
export const router = createRouter({
  history: createWebHistory("/console/"),
  routes: [
    { path: "/login", name: "login", component: () => import("../views/login/LoginView.vue") },
    {
      path: "/",
      component: () => import("../components/AppLayout.vue"),
      children: [
        { path: "", name: "home", redirect: () => ({ name: homeFor(useSession().role) }) },
        {
          path: "dashboard",
          name: "dashboard",
          component: () => import("../views/dashboard/DashboardView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "members",
          name: "members",
          component: () => import("../views/members/MembersView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "members/imports",
          name: "imports",
          component: () => import("../views/imports/ImportsView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "members/tags",
          name: "member-tags",
          component: () => import("../views/members/TagsView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "members/:memberId",
          name: "member",
          component: () => import("../views/members/MemberView.vue"),
          meta: { role: "admin" },
          props: true,
        },
        {
          path: "coupons",
          name: "coupons",
          component: () => import("../views/coupons/CouponsView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "coupons/issue",
          name: "issue",
          component: () => import("../views/coupons/IssueJobsView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "rewards",
          name: "rewards",
          component: () => import("../views/coupons/CouponsView.vue"),
          meta: { role: "admin" },
          props: { reward: true },
        },
        {
          path: "punch-card-plans",
          name: "punch",
          component: () => import("../views/programme/PunchPlansView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "wallet",
          name: "wallet",
          component: () => import("../views/wallet/WalletCardView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "webhooks",
          name: "webhooks",
          component: () => import("../views/webhooks/WebhooksView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "tiers",
          name: "tiers",
          component: () => import("../views/programme/TiersView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "topup-plans",
          name: "plans",
          component: () => import("../views/programme/TopupPlansView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "member-days",
          name: "days",
          component: () => import("../views/programme/MemberDaysView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "settings",
          name: "settings",
          component: () => import("../views/programme/SettingsView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "reports",
          name: "reports",
          component: () => import("../views/reports/ReportsView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "reports/rfm",
          name: "rfm",
          component: () => import("../views/reports/RfmView.vue"),
          meta: { role: "admin" },
        },
        {
          path: "audit",
          name: "audit",
          component: () => import("../views/audit/AuditView.vue"),
          meta: { role: "admin" },
        },
        { path: "staff", name: "staff", component: () => import("../views/staff/StaffView.vue"), meta: { role: "admin" } },
        { path: "till", name: "till", component: () => import("../views/till/TillView.vue"), meta: { role: "staff" } },
      ],
    },
    { path: "/:rest(.*)*", redirect: { name: "home" } },
  ],
});

export function homeFor(role: Role | null): string {
  return role === "staff" ? "till" : "dashboard";
}

router.beforeEach((to: RouteLocationNormalized) => {
  const session = useSession();
  if (session.expired()) session.signOut(i18n.global.t("login.expired"));
  if (to.name === "login") return true;
  if (!session.signedIn) return { name: "login", query: to.fullPath !== "/" ? { redirect: to.fullPath } : {} };
  const needed = to.matched.map((r) => r.meta.role).find(Boolean);
  if (needed && needed !== session.role) return { name: homeFor(session.role) };
  return true;
});

// A call answered "session over" (expired, revoked, disabled): back to sign-in, where the message is shown.
window.addEventListener("kabao:session-over", () => {
  const current = router.currentRoute.value;
  if (current.name !== "login") void router.push({ name: "login", query: { redirect: current.fullPath } });
});
