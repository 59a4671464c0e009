-- Q2. Posts per category per year, 2018-2022
-- Year of the post's geolocation timestamp, inclusive bounds.
SELECT year(g.timestamp) AS post_year, p.category, count(*) AS category_count
FROM pin p JOIN geo g ON p.ind = g.ind
WHERE g.timestamp >= '2018-01-01 00:00:00' AND g.timestamp < '2023-01-01 00:00:00'
GROUP BY post_year, p.category
ORDER BY post_year, p.category;
