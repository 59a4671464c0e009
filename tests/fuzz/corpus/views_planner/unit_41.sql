SELECT title FROM pin WHERE title
