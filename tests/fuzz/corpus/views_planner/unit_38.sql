SELECT p.ind, g.ind FROM pin p JOIN geo g ON p.ind = g.ind
