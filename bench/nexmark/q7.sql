-- Nexmark Q7. Highest bid: the bids with the highest price in each tumbling 10 s window.
-- Nexmark (and RisingWave) join every bid to its window's maximum on the price and keep those
-- within the window (B.date_time BETWEEN window_end - 10 s AND window_end); views have no
-- interval arithmetic on timestamps, so the bid's own window is joined on instead: the same
-- answer except for a bid at exactly a window's end. q7.batch.sql: the same without TUMBLE.
SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND) B
JOIN (
  SELECT max(price) AS maxprice, window_start
  FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)
  GROUP BY window_start
) B1
ON B.price = B1.maxprice AND B.window_start = B1.window_start;
