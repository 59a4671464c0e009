-- Q1. Most popular category per country
-- The category with the most posts in each country (posts joined to their geolocation on ind);
-- ties keep every top category.
WITH counts AS (
  SELECT g.country, p.category, count(*) AS category_count
  FROM pin p JOIN geo g ON p.ind = g.ind
  GROUP BY g.country, p.category
)
SELECT country, category, category_count
FROM (SELECT *, rank() OVER (PARTITION BY country ORDER BY category_count DESC) AS r FROM counts)
WHERE r = 1
ORDER BY country, category;
