// History-mode routes; the edge answers every unknown path with index.html.
import { createRouter, createWebHistory } from "vue-router";

import { useSession } from "./stores/session";

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: "/", redirect: "/tasks" },
    { path: "/login", name: "login", component: () => import("./views/LoginView.vue") },
    { path: "/tasks", name: "tasks", component: () => import("./views/TasksView.vue") },
    { path: "/tasks/:id", name: "task", component: () => import("./views/TaskView.vue"), props: true },
    { path: "/brand", name: "brand", component: () => import("./views/BrandView.vue") },
    { path: "/accounts", name: "accounts", component: () => import("./views/AccountsView.vue") },
    // Where the platforms send the user back after authorising a link.
    { path: "/accounts/callback", name: "accounts-callback", component: () => import("./views/AccountsView.vue") },
    { path: "/admin", name: "admin", component: () => import("./views/AdminView.vue") },
    { path: "/:rest(.*)*", redirect: "/tasks" },
  ],
});

router.beforeEach((to) => {
  const session = useSession();
  if (to.name !== "login" && !session.signedIn) {
    return { name: "login", query: { next: to.fullPath } };
  }
  if (to.name === "login" && session.signedIn) {
    return { name: "tasks" };
  }
  return true;
});
