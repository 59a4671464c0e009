-- Q7. Median follower count of users by joining year, 2015-2020
SELECT year(u.date_joined) AS post_year, median(p.follower_count) AS median_follower_count
FROM pin p JOIN user u ON p.ind = u.ind
WHERE u.date_joined >= '2015-01-01 00:00:00' AND u.date_joined < '2021-01-01 00:00:00'
GROUP BY post_year
ORDER BY post_year;
