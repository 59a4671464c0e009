SELECT category FROM pin WHERE count(*) > 1
