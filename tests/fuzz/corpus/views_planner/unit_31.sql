SELECT title FROM (SELECT title FROM pin LIMIT 3) t
