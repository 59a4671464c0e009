SELECT title, lag(title) OVER (ORDER BY ind) AS l FROM pin
