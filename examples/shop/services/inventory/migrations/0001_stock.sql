CREATE TABLE stock (
  sku text PRIMARY KEY,
  available integer NOT NULL CHECK (available >= 0),
  restock_threshold integer NOT NULL DEFAULT 5
);

CREATE TABLE reservations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('reserved', 'released')),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservation_items (
  reservation_id uuid NOT NULL REFERENCES reservations,
  sku text NOT NULL REFERENCES stock,
  quantity integer NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (reservation_id, sku)
);

INSERT INTO stock (sku, available, restock_threshold) VALUES
  ('p-espresso', 500, 20),
  ('p-grinder', 6, 3),
  ('p-kettle', 40, 5),
  ('p-mug', 200, 10);
