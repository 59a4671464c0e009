SELECT 1 AS x FROM pin p, geo g
