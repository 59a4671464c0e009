-- Q5. Median follower count per age group
-- median = the value at rank ceil(n/2) of the non-null follower counts (Spark's
-- percentile_approx(follower_count, 0.5)).
SELECT CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
            WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
            WHEN u.age BETWEEN 36 AND 50 THEN '36-50'
            ELSE '50+' END AS age_group,
       median(p.follower_count) AS median_follower_count
FROM pin p JOIN user u ON p.ind = u.ind
GROUP BY age_group
ORDER BY age_group;
