SELECT count(*) AS n, max(age) - min(age) AS spread FROM user
