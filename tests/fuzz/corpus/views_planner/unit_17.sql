SELECT ind FROM pin p JOIN geo g ON p.ind = g.ind
