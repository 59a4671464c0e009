-- Q6. Users joined per year, 2015-2020
SELECT year(date_joined) AS post_year, count(*) AS number_users_joined
FROM user
WHERE date_joined >= '2015-01-01 00:00:00' AND date_joined < '2021-01-01 00:00:00'
GROUP BY post_year
ORDER BY post_year;
