-- Orders released as a whole (the saga's compensation): a reservation of one of them arriving later
-- is refused, so a reservation still in flight when the release ran cannot hold stock afterwards.
CREATE TABLE released_orders (
  order_id text PRIMARY KEY,
  released_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX reservations_order_id ON reservations (order_id);
