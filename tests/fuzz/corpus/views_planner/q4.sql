-- Q4. Most popular category per age group
-- Age groups 18-24, 25-35, 36-50 (inclusive) and 50+ for every other age; ties keep every top
-- category.
WITH counts AS (
  SELECT CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
              WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
              WHEN u.age BETWEEN 36 AND 50 THEN '36-50'
              ELSE '50+' END AS age_group,
         p.category, count(*) AS category_count
  FROM pin p JOIN user u ON p.ind = u.ind
  GROUP BY age_group, p.category
)
SELECT age_group, category, category_count
FROM (SELECT *, rank() OVER (PARTITION BY age_group ORDER BY category_count DESC) AS r FROM counts)
WHERE r = 1
ORDER BY age_group, category;
