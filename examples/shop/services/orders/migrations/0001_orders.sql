CREATE TABLE orders (
  id text PRIMARY KEY,
  user_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
  total_cents integer NOT NULL CHECK (total_cents > 0),
  items jsonb NOT NULL,
  payment_method text NOT NULL,
  shipment_id text,
  cancel_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_created ON orders (user_id, created_at DESC);
