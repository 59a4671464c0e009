-- Nexmark Q4. Average price per category: the average of each closed auction's winning bid
-- (the highest bid made between the auction's start and its expiry), per category.
SELECT q.category, avg(q.final) AS avg_final
FROM (
  SELECT max(b.price) AS final, a.category
  FROM auction a, bid b
  WHERE a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
  GROUP BY a.id, a.category
) q
GROUP BY q.category;
