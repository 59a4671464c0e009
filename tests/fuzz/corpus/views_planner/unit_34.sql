SELECT DISTINCT ON (category) title FROM pin
