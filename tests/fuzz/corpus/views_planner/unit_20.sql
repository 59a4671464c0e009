SELECT 1 AS x FROM pin p RIGHT JOIN geo g ON p.ind = g.ind
