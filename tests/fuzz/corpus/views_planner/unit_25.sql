SELECT 1 AS x FROM pin p JOIN geo g ON p.category = g.ind
