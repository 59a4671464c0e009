SELECT category, count(*) FROM pin GROUP BY ROLLUP (category)
