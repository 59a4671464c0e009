SELECT x.ind FROM pin p
