// The shop as one system: `flotilla up` in this folder (or `npm start` at the repository root)
// starts an embedded PostgreSQL, the registry, the trace collector, the gateway and every service.
import { defineSystem } from "flotilla";

export default defineSystem({
  name: "shop",
  messaging: { transport: "postgres" },
  gateway: { port: 8080, config: "./gateway.yaml" },
  services: {
    users: { main: "./services/users/main.ts" },
    catalog: { main: "./services/catalog/main.ts", instances: 2 },
    payments: {
      main: "./services/payments/main.ts",
      instances: 2,
      env: { PAYMENTS_LATENCY_MS: "40", PAYMENTS_FAILURE_RATE: "0.05" },
    },
    inventory: { main: "./services/inventory/main.ts", instances: 2 },
    shipping: { main: "./services/shipping/main.ts" },
    orders: { main: "./services/orders/main.ts", instances: 2, env: { ORDERS_ADMIN_PORT: "0" } },
    reviews: { main: "./services/reviews/main.ts" },
    recommendations: {
      main: "./services/recommendations/main.ts",
      env: { RECOMMENDATIONS_LATENCY_MS: "300", RECOMMENDATIONS_FAILURE_RATE: "0.3" },
    },
    notifications: {
      main: "./services/notifications/main.ts",
      env: { NOTIFICATIONS_PUSH_FAILURE_RATE: "0.2", NOTIFICATIONS_EMAIL_FAILURE_RATE: "0.1" },
    },
  },
});
