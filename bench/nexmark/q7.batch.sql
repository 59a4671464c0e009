-- q7.sql for the batch SQL (no TUMBLE, no INTERVAL): a bid's window ends at
-- floor(t / 10 s) * 10 s + 10 s, and t - INTERVAL '10' SECOND is unix_micros(t) - 10000000.
WITH tumble AS (
  SELECT b.*, to_timestamp(unix_micros(b.date_time) / 10000000 * 10000000 + 10000000) AS window_end
  FROM bid b
  WHERE b.date_time IS NOT NULL
)
SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
FROM bid B
JOIN (SELECT max(price) AS maxprice, window_end AS date_time FROM tumble GROUP BY window_end) B1
ON B.price = B1.maxprice
WHERE unix_micros(B.date_time) BETWEEN unix_micros(B1.date_time) - 10000000
                                   AND unix_micros(B1.date_time);
