-- Nexmark Q7. Highest bid: the bids with the highest price in each tumbling 10 s window, as
-- nexmark/nexmark's q7.sql writes it: every bid joined to the windows' maximum prices on the
-- price, kept when its time is within the window's 10 s up to its end (a bid at exactly a
-- window's end counts in both windows it touches). q7.batch.sql: the same without TUMBLE and
-- INTERVAL (the batch SQL has neither).
SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
FROM bid B
JOIN (
  SELECT max(price) AS maxprice, window_end AS date_time
  FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.date_time BETWEEN B1.date_time - INTERVAL '10' SECOND AND B1.date_time;
