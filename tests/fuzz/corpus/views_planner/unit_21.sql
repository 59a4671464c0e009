SELECT 1 AS x FROM pin p FULL JOIN geo g ON p.ind = g.ind
