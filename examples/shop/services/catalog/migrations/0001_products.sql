CREATE TABLE products (
  id text PRIMARY KEY,
  name text NOT NULL,
  description text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents > 0),
  currency text NOT NULL DEFAULT 'EUR'
);

INSERT INTO products (id, name, description, price_cents) VALUES
  ('p-espresso', 'Espresso beans 1 kg', 'Dark roast, whole beans.', 2490),
  ('p-grinder', 'Burr grinder', 'Conical burrs, 40 settings.', 12900),
  ('p-kettle', 'Gooseneck kettle', 'Temperature control, 0.9 l.', 7900),
  ('p-mug', 'Stoneware mug', 'Hand-glazed, 300 ml.', 1500);
