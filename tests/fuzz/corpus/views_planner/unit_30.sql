SELECT title, rank() OVER (PARTITION BY category ORDER BY ind) AS r FROM pin
