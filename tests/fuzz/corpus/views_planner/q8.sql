-- Q8. Median follower count by joining year and age group, 2015-2020
SELECT CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
            WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
            WHEN u.age BETWEEN 36 AND 50 THEN '36-50'
            ELSE '50+' END AS age_group,
       year(u.date_joined) AS post_year,
       median(p.follower_count) AS median_follower_count
FROM pin p JOIN user u ON p.ind = u.ind
WHERE u.date_joined >= '2015-01-01 00:00:00' AND u.date_joined < '2021-01-01 00:00:00'
GROUP BY age_group, post_year
ORDER BY age_group, post_year;
