SELECT 1 AS x FROM pin p LEFT JOIN geo g ON p.ind = g.ind AND p.ind > 3
