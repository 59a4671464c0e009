SELECT title FROM pin WHERE category > 5
