-- The demo's views: an order desk over the `orders` stream.
-- Events: place_order {order_id, customer, total, region}, pay_order / ship_order / cancel_order {order_id}.

CREATE VIEW orders AS
  SELECT order_id,
         LAST(customer) AS customer,
         LAST(region) AS region,
         SUM(total) AS total,
         LAST(CASE type
                WHEN 'place_order' THEN 'placed'
                WHEN 'pay_order' THEN 'paid'
                WHEN 'ship_order' THEN 'shipped'
                WHEN 'cancel_order' THEN 'cancelled'
              END) AS status,
         LAST(ts) AS updated_ms
  FROM orders
  GROUP BY order_id;

CREATE VIEW sales_by_region AS
  SELECT region,
         COUNT(*) AS orders,
         SUM(total) AS revenue,
         AVG(total) AS average,
         MAX(total) AS largest
  FROM orders
  WHERE type = 'place_order'
  GROUP BY region;

CREATE VIEW activity AS
  SELECT type, order_id, customer, total, ts
  FROM orders;

-- Search over the orders: customers and order ids (typos allowed), counted by status and region.
CREATE SEARCH INDEX order_search ON orders (customer, order_id) FACETS (status, region);
