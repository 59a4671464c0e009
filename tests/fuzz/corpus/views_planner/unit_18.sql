SELECT category, title, count(*) FROM pin GROUP BY category
