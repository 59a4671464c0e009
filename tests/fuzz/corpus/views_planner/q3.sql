-- Q3 (a). Most-followed poster per country
-- The poster(s) with the highest follower count among each country's posts; ties keep every
-- poster (each poster once).
WITH per_country AS (
  SELECT g.country, p.poster_name, p.follower_count,
         rank() OVER (PARTITION BY g.country ORDER BY p.follower_count DESC) AS r
  FROM pin p JOIN geo g ON p.ind = g.ind
  WHERE p.follower_count IS NOT NULL
)
SELECT DISTINCT country, poster_name, follower_count
FROM per_country WHERE r = 1
ORDER BY country, poster_name;

-- Q3 (b). Country whose top poster has the most followers
WITH top AS (
  SELECT g.country, max(p.follower_count) AS follower_count
  FROM pin p JOIN geo g ON p.ind = g.ind
  GROUP BY g.country
)
SELECT country, follower_count
FROM top
WHERE follower_count = (SELECT max(follower_count) FROM top)
ORDER BY country;
