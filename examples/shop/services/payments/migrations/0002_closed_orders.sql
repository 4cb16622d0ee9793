-- Orders refunded as a whole (the saga's compensation): a charge of one of them arriving later is
-- refused, so a charge still in flight when the refund ran cannot take money afterwards.
CREATE TABLE closed_orders (
  order_id text PRIMARY KEY,
  closed_at timestamptz NOT NULL DEFAULT now()
);
