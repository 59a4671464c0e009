-- q7.sql for the batch SQL (no TUMBLE): a bid's window starts at floor(t / 10 s) * 10 s.
WITH tumble AS (
  SELECT b.*, to_timestamp(unix_micros(b.date_time) / 10000000 * 10000000) AS window_start
  FROM bid b
  WHERE b.date_time IS NOT NULL
)
SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
FROM tumble B
JOIN (SELECT max(price) AS maxprice, window_start FROM tumble GROUP BY window_start) B1
ON B.price = B1.maxprice AND B.window_start = B1.window_start;
