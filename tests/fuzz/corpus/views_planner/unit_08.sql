SELECT category, count(*) FROM pin GROUP BY 1 ORDER BY 2 DESC, 1
