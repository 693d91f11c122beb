-- The dashboard example's views, over the `sales` stream. Events: sell {region, cents}.
-- Amounts are whole cents: sums of integers are exact.

CREATE VIEW by_region AS
  SELECT region,
         COUNT(*) AS sales,
         SUM(cents) AS cents
  FROM sales
  WHERE type = 'sell'
  GROUP BY region;
