SELECT title FROM (SELECT title FROM pin ORDER BY title) t
