SELECT age FROM user UNION ALL SELECT avg(age) FROM user
