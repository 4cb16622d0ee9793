CREATE TABLE notifications (
  id bigserial PRIMARY KEY,
  order_id text NOT NULL,
  user_id text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('push', 'email', 'queued')),
  body text NOT NULL,
  message_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_order_id ON notifications (order_id);

-- Notifications neither channel took: sent later by a job (not part of this slice).
CREATE TABLE notification_queue (
  id bigserial PRIMARY KEY,
  order_id text NOT NULL,
  user_id text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
