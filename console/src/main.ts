import "element-plus/es/components/message/style/css";
import "element-plus/es/components/message-box/style/css";
import "./style.css";

import { createPinia } from "pinia";
import { createApp } from "vue";

import App from "./App.vue";
import { i18n, localeReady } from "./locales";
import { router } from "./router";

// mounted once the chosen language is loaded (English is fetched apart), so no page flashes the other one
void localeReady.then(() => createApp(App).use(createPinia()).use(i18n).use(router).mount("#app"));
