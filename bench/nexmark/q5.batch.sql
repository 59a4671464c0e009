-- q5.sql for the batch SQL (no HOP): each bid in the windows [s, s + 10 s) with s a multiple of
-- 2 s and s <= date_time < s + 10 s — floor(t / 2 s) * 2 s - j * 2 s for j = 0..4 (times after
-- 1970: integer division floors).
WITH hop AS (
  SELECT b.auction,
         to_timestamp((unix_micros(b.date_time) / 2000000 - k.j) * 2000000) AS window_start
  FROM bid b,
       (SELECT 0 AS j UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
        UNION ALL SELECT 4) k
  WHERE b.date_time IS NOT NULL
),
counts AS (SELECT auction, count(*) AS num, window_start AS starttime FROM hop
           GROUP BY window_start, auction)
SELECT c.auction, c.num, c.starttime
FROM counts c
JOIN (SELECT max(num) AS maxn, starttime AS starttime_c FROM counts GROUP BY starttime) m
ON c.starttime = m.starttime_c AND c.num >= m.maxn;
